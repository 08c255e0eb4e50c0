/**
 * status — `ds-backup status`: what the scheduled backups are doing, from
 * local files only (no network): registration (config.json), the last
 * success (ds-backup-done's mtime), the last run's outcome and reason and
 * when the next attempt is due (state.json), and whether today's backup is
 * still pending.
 */
import type { Profile } from '../profile.js';
import { doneToday, nextMidnight } from './schedule.js';
import { lastDone, readState } from './state.js';

export interface AgentStatus {
  profile: string;
  registered: boolean;
  serial: string | null;
  server: string | null;
  lastSuccess: string | null;
  lastAttempt: string | null;
  lastOutcome: string | null;
  lastReason: string | null;
  nextAttempt: string | null;
  /** True while today's backup has not happened yet. */
  pending: boolean;
  lastSnapshots: string[];
  /** The restore code for the web restore page (as of registration; the admin may reset it). */
  restoreCode: string | null;
  /** True when restoreCode was just read from the server (else: as saved at registration). */
  restoreCodeChecked?: boolean;
}

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

export function agentStatus(profile: Profile, now = Date.now()): AgentStatus {
  const cfg = profile.readConfig();
  const st = readState(profile);
  const done = lastDone(profile)?.getTime() ?? st.lastSuccess ?? null;
  const pending = !doneToday(done, now);
  let next = st.nextAttempt ?? null;
  if (!pending) next = Math.max(next ?? 0, nextMidnight(now));
  return {
    profile: profile.dir,
    registered: Boolean(cfg),
    serial: cfg?.serial ?? null,
    server: cfg?.server ?? null,
    lastSuccess: iso(done),
    lastAttempt: iso(st.lastAttempt),
    lastOutcome: st.outcome ?? null,
    lastReason: st.reason ?? null,
    nextAttempt: iso(next),
    pending,
    lastSnapshots: st.lastSnapshots ?? [],
    restoreCode: cfg?.restoreCode ?? null,
  };
}

function local(isoText: string | null, now: number): string {
  if (!isoText) return 'never';
  const t = new Date(isoText);
  const pad = (n: number) => String(n).padStart(2, '0');
  const text = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
  const mins = Math.round((t.getTime() - now) / 60_000);
  if (mins === 0) return `${text} (now)`;
  const rel =
    Math.abs(mins) < 90
      ? `${Math.abs(mins)} min`
      : Math.abs(mins) < 36 * 60
        ? `${Math.round(Math.abs(mins) / 60)} h`
        : `${Math.round(Math.abs(mins) / 1440)} days`;
  return `${text} (${mins < 0 ? `${rel} ago` : `in ${rel}`})`;
}

export function formatStatus(s: AgentStatus, now = Date.now()): string {
  const lines = [
    `registered:   ${s.registered ? `yes, ${s.serial} with ${s.server}` : 'no (run: ds-backup register --server URL)'}`,
    `last success: ${local(s.lastSuccess, now)}`,
    `last run:     ${s.lastAttempt ? `${local(s.lastAttempt, now)}: ${s.lastOutcome}${s.lastReason ? ` — ${s.lastReason}` : ''}` : 'never'}`,
    `next attempt: ${s.nextAttempt ? `${local(s.nextAttempt, now)} or the first timer tick after` : 'at the next timer tick'}`,
    `pending:      ${s.pending ? 'yes, no backup yet today' : 'no, backed up today'}`,
  ];
  if (s.restoreCode)
    lines.push(
      `restore code: ${s.restoreCode} (${s.restoreCodeChecked ? 'current, from the server' : 'as of registration; the server did not answer'}; with the serial number it signs in to the restore page, or: ds-backup restore --web)`,
    );
  return lines.join('\n') + '\n';
}
