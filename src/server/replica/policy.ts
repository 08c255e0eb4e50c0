/**
 * policy — when the replica may use the uplink, how fast, and when a deletion
 * may reach it. Pure functions of their inputs (a time is passed in, never
 * read), each answer carrying a reason a person can read.
 *
 *   parseBandwidth("2MB/s")        → bytes per second (0 = no cap)
 *   parseWindow("22:00-06:00")     → a daily window in local time (null = always)
 *   windowAt(window, t)            → open or not at t, since when / until when
 *   graceDecision(since, t, days)  → may a record gone locally since `since` be deleted off-site
 *
 * Config keys: replicaBandwidth (default "1MB/s"), replicaWindow (default
 * "22:00-06:00", the machine's local time), replicaDeleteGraceDays (30).
 */
import { AppError } from '../../platform/errors.js';

export const DEFAULT_REPLICA_BANDWIDTH = '1MB/s';
export const DEFAULT_REPLICA_WINDOW = '22:00-06:00';
export const DEFAULT_DELETE_GRACE_DAYS = 30;

const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/**
 * "2MB/s", "500KB/s", "1.5MiB/s", "16Mbit/s", "250000" (bytes/s); "0", "" or
 * "unlimited" = no cap. K/M/G are powers of 1000, Ki/Mi/Gi of 1024; bit = 1/8 byte.
 */
export function parseBandwidth(text: string | number): number {
  if (typeof text === 'number') return checkRate(text, String(text));
  const t = text.trim();
  if (t === '' || /^(0|unlimited|none|off)$/i.test(t)) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g|ki|mi|gi)?(b|bit|bits|byte|bytes)?(\/s|ps)?$/i.exec(t);
  if (!m)
    throw new AppError('bad_request', `replicaBandwidth: "${text}" is not a rate; write e.g. "2MB/s" or "500KB/s"`);
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  const bits = /^bit/i.test(m[3] ?? '');
  return checkRate((Number(m[1]) * unit) / (bits ? 8 : 1), text);
}

function checkRate(n: number, text: string): number {
  if (!Number.isFinite(n) || n < 0) throw new AppError('bad_request', `replicaBandwidth: "${text}" is not a rate`);
  if (n > 0 && n < 1024) throw new AppError('bad_request', `replicaBandwidth: "${text}" is below 1 KiB/s`);
  return Math.floor(n);
}

/** A daily window in minutes after local midnight: [start, end), crossing midnight when end <= start. */
export interface Window {
  text: string;
  start: number;
  end: number;
}

/** "22:00-06:00"; "", "always" or "any" = no window (null). */
export function parseWindow(text: string): Window | null {
  const t = text.trim();
  if (t === '' || /^(always|any)$/i.test(t)) return null;
  const m = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/.exec(t);
  const mins = m ? [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])] : [];
  if (!m || Number(m[2]) > 59 || Number(m[4]) > 59 || mins[0] > 1440 || mins[1] > 1440)
    throw new AppError('bad_request', `replicaWindow: "${text}" is not a window; write e.g. "22:00-06:00"`);
  if (mins[0] % 1440 === mins[1] % 1440) return null; // 00:00-24:00: the whole day
  return { text: t, start: mins[0] % 1440, end: mins[1] % 1440 };
}

export interface WindowState {
  open: boolean;
  /** Open: when this opening began and when it closes. Closed: when it opens next. */
  openedAt?: number;
  closesAt?: number;
  opensAt?: number;
  reason: string;
}

const hhmm = (t: number) => {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

/** The local time at `minutes` after the local midnight of t's day, shifted by `days`. */
function at(t: number, minutes: number, days: number): number {
  const d = new Date(t);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days, Math.floor(minutes / 60), minutes % 60).getTime();
}

export function windowAt(w: Window | null, t: number): WindowState {
  if (!w) return { open: true, reason: 'no window: replication may run at any time' };
  const d = new Date(t);
  const m = d.getHours() * 60 + d.getMinutes();
  const crosses = w.end <= w.start;
  const open = crosses ? m >= w.start || m < w.end : m >= w.start && m < w.end;
  if (open) {
    const openedAt = at(t, w.start, crosses && m < w.end ? -1 : 0);
    const closesAt = at(t, w.end, crosses && m >= w.start ? 1 : 0);
    return { open, openedAt, closesAt, reason: `inside the window ${w.text} (until ${hhmm(closesAt)})` };
  }
  const opensAt = at(t, w.start, m >= w.start ? 1 : 0);
  return {
    open,
    opensAt,
    reason: `outside the replication window ${w.text} (it is ${hhmm(t)} here; it opens at ${hhmm(opensAt)})`,
  };
}

export interface GraceDecision {
  delete: boolean;
  reason: string;
}

const DAY = 86_400_000;

/** A record gone locally since `since` is deleted off-site once `graceDays` have passed. */
export function graceDecision(since: number, t: number, graceDays: number): GraceDecision {
  const age = Math.max(0, t - since);
  const days = (age / DAY).toFixed(1);
  if (age >= graceDays * DAY)
    return { delete: true, reason: `gone locally for ${days} days, beyond the ${graceDays}-day grace` };
  const left = Math.ceil((graceDays * DAY - age) / DAY);
  return { delete: false, reason: `gone locally for ${days} days; kept off-site ${left} more day(s)` };
}
