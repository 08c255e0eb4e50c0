/**
 * parts — abandoned resumable uploads expire.
 *
 * A resumable upload (store/uploads.ts) grows `<id>.<serial>.part` in the
 * object store's scratch folder (ObjectStore.scratchDir; incoming/ for the
 * local store) until the blob is complete and handed over with putFile(). A laptop that never comes back leaves its part
 * behind; the daily cleanup removes a part untouched for `partExpiryDays`
 * (mtime: every append touches it) unless a live lease of its laptop holds
 * it (the laptop may be resuming it right now). Live leases come from this
 * process (Admission) and, for a separate `cleanup` process, from a running
 * `serve` through run/leases.json; a `serve` whose file does not list
 * serials holds every part ('all').
 * expireParts is the pure policy (one verdict with a reason per part);
 * sweepParts lists, decides and (unless a dry run) deletes.
 */
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

const DAY = 86_400_000;
const PART = /^([0-9a-f]{64})\.([A-Za-z0-9]{1,64})\.part$/;

export interface PartFacts {
  name: string;
  serial: string;
  bytes: number;
  mtimeMs: number;
}

export interface PartVerdict {
  part: PartFacts;
  expire: boolean;
  why: string;
}

export interface PartsReport {
  expired: number;
  bytes: number;
  kept: number;
  removed: Array<{ name: string; bytes: number; why: string }>;
}

/** Decides every part: expire when untouched for `days` days and no live lease of its laptop holds it. */
export function expireParts(
  parts: PartFacts[],
  days: number,
  now: number,
  held: ReadonlySet<string> | 'all',
): PartVerdict[] {
  return parts.map((part) => {
    const age = (now - part.mtimeMs) / DAY;
    if (held === 'all') return { part, expire: false, why: 'a running server did not say which laptops hold leases' };
    if (held.has(part.serial)) return { part, expire: false, why: `laptop ${part.serial} holds a live lease` };
    if (!(days > 0)) return { part, expire: false, why: 'expiry is off (partExpiryDays 0)' };
    if (age < days) return { part, expire: false, why: `touched ${age.toFixed(1)} days ago (limit ${days})` };
    return { part, expire: true, why: `untouched for ${age.toFixed(1)} days (limit ${days}), no live lease` };
  });
}

/** The parts in incoming/ (names that are not parts are not ours to judge). */
function listParts(incoming: string): PartFacts[] {
  const out: PartFacts[] = [];
  for (const name of readdirSync(incoming)) {
    const m = PART.exec(name);
    if (!m) continue;
    let st;
    try {
      st = lstatSync(join(incoming, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // completed or removed since the listing
      throw e;
    }
    if (st.isFile()) out.push({ name, serial: m[2], bytes: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** Lists, decides and (unless dryRun) deletes expired parts. */
export function sweepParts(
  incoming: string,
  days: number,
  now: number,
  held: ReadonlySet<string> | 'all',
  dryRun: boolean,
): PartsReport {
  const report: PartsReport = { expired: 0, bytes: 0, kept: 0, removed: [] };
  for (const v of expireParts(listParts(incoming), days, now, held)) {
    if (!v.expire) {
      report.kept++;
      continue;
    }
    if (!dryRun) {
      try {
        unlinkSync(join(incoming, v.part.name));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        continue; // completed into the pool since the listing
      }
    }
    report.expired++;
    report.bytes += v.part.bytes;
    report.removed.push({ name: v.part.name, bytes: v.part.bytes, why: v.why });
  }
  return report;
}
