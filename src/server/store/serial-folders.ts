/**
 * serial-folders — stores written before serials had one canonical form
 * (protocol/names.ts canonicalSerial: trimmed, upper-case) may hold
 * `users/shc123` beside the catalog's idea of SHC123. canonicalizeFolders()
 * makes them canonical once, deterministically, at server start:
 *
 *  - a folder whose canonical name no other folder shares is renamed
 *    (users/shc123 → users/SHC123, one rename, then the parent is flushed);
 *    its device.json, snapshot.json records and pins.json are rewritten
 *    with the canonical serial and account (atomic writes);
 *  - a device whose account is a non-canonical serial (a replacement that
 *    joined `shc123`'s account) gets the canonical account key;
 *  - folders that differ only by case (users/shc123 and users/SHC123) are
 *    two laptops' worth of records that cannot both be that laptop: none of
 *    them is touched or merged; they are reported (logged at start, and by
 *    `ds-backup-server reindex`) for the administrator to sort out.
 *
 * A crash between the rename and the rewrites leaves a canonical folder
 * whose records name the old serial: the next start finds that (device.json
 * serial ≠ folder name) and finishes. When anything changed the caller
 * rebuilds the catalog (reindex), whose rows held the old serials.
 */
import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../platform/durable.js';
import { canonicalSerial } from '../../protocol/names.js';

export interface FolderReport {
  /** old → new folder names renamed now. */
  renamed: Array<{ from: string; to: string }>;
  /** Folders whose records were rewritten (renamed ones, crash leftovers, accounts). */
  rewritten: string[];
  /** Groups of folders that differ only by case: left alone. */
  collisions: string[][];
}

/** The pure plan: which folders to rename, which groups collide. */
export function planFolders(names: string[]): { renames: Array<{ from: string; to: string }>; collisions: string[][] } {
  const groups = new Map<string, string[]>();
  for (const n of [...names].sort()) {
    const c = canonicalSerial(n);
    if (c) groups.set(c, [...(groups.get(c) ?? []), n]);
  }
  const renames: Array<{ from: string; to: string }> = [];
  const collisions: string[][] = [];
  for (const [c, g] of groups) {
    if (g.length > 1) collisions.push(g);
    else if (g[0] !== c) renames.push({ from: g[0], to: c });
  }
  return { renames, collisions };
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

const canon = (v: unknown) => (typeof v === 'string' ? (canonicalSerial(v) ?? v) : v);

/** Rewrites one JSON file when `fix` changes it; true when written. */
function fixJson(path: string, fix: (o: Record<string, unknown>) => void, mode?: number): boolean {
  const o = readJson(path);
  if (!o) return false;
  const before = JSON.stringify(o);
  fix(o);
  if (JSON.stringify(o) === before) return false;
  writeFileAtomic(path, JSON.stringify(o, null, 2) + '\n', mode);
  return true;
}

/** Makes every record of users/<sn> name `sn` and canonical accounts; true when one changed. */
function fixRecords(usersDir: string, sn: string): boolean {
  const dir = join(usersDir, sn);
  let changed = fixJson(
    join(dir, 'device.json'),
    (o) => {
      o.serial = sn;
      o.account = canon(o.account);
    },
    0o600,
  );
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (!d.isDirectory() || d.name.startsWith('.')) continue;
    changed =
      fixJson(join(dir, d.name, 'snapshot.json'), (o) => {
        o.serial = sn;
        o.account = canon(o.account);
      }) || changed;
  }
  changed =
    fixJson(join(dir, 'pins.json'), (o) => {
      for (const p of (o.pins as Array<Record<string, unknown>> | undefined) ?? [])
        if (p.serial) p.serial = canon(p.serial);
    }) || changed;
  return changed;
}

export function canonicalizeFolders(usersDir: string): FolderReport {
  const names = readdirSync(usersDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name);
  const { renames, collisions } = planFolders(names);
  const collided = new Set(collisions.flat());
  for (const r of renames) renameSync(join(usersDir, r.from), join(usersDir, r.to));
  if (renames.length) fsyncDir(usersDir);
  const rewritten: string[] = [];
  const current = names.filter((n) => !collided.has(n)).map((n) => renames.find((r) => r.from === n)?.to ?? n);
  for (const sn of current) {
    if (canonicalSerial(sn) !== sn) continue;
    const dev = readJson(join(usersDir, sn, 'device.json'));
    const stale =
      renames.some((r) => r.to === sn) || (dev && (dev.serial !== sn || canon(dev.account) !== dev.account));
    if (stale && fixRecords(usersDir, sn)) rewritten.push(sn);
  }
  return { renamed: renames, rewritten, collisions };
}
