/**
 * snapshots — snapshot folders on disk.
 *
 *   users/<SN>/<source>-YYYY-MM-DD_HH:MM/snapshot.json
 *   users/<SN>/<source>-latest -> <source>-YYYY-MM-DD_HH:MM
 *
 * A snapshot folder holds no file copies, only snapshot.json (the root tree
 * id, counts, sizes, run id). It appears atomically: written in a hidden
 * temp folder, flushed, renamed into place; `-latest` is then swapped by an
 * atomic symlink rename. Names are UTC minutes; seconds (then milliseconds)
 * are appended only when the name is taken.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  openSync,
  fsyncSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir, replaceSymlink } from '../../platform/durable.js';
import { isSnapshotName } from '../../protocol/names.js';
import { readJsonState, unlessMissing } from '../../platform/fs-errors.js';

export interface SnapshotInfo {
  version: 1;
  serial: string;
  account: string;
  source: string;
  name: string;
  createdAt: number;
  root: string;
  files: number;
  bytes: number;
  runId: string | null;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

export function stampOf(t: Date, precision: 'min' | 'sec' | 'ms'): string {
  let s = `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}_${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}`;
  if (precision !== 'min') s += `:${pad(t.getUTCSeconds())}`;
  if (precision === 'ms') s += `.${pad(t.getUTCMilliseconds(), 3)}`;
  return s;
}

/** A free snapshot name for `source` at time t in folder `dir`. */
export function allocateName(dir: string, source: string, t: Date): string {
  for (const p of ['min', 'sec', 'ms'] as const) {
    const name = `${source}-${stampOf(t, p)}`;
    if (!existsSync(join(dir, name))) return name;
  }
  throw new Error(`snapshot name clash for ${source} at ${t.toISOString()}`);
}

/** Writes the snapshot folder atomically and moves `-latest`. */
export function writeSnapshot(userDir: string, info: SnapshotInfo, moveLatest = true): void {
  mkdirSync(userDir, { recursive: true });
  const tmp = join(userDir, `.tmp-${info.name}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  const file = join(tmp, 'snapshot.json');
  writeFileSync(file, JSON.stringify(info, null, 2) + '\n');
  const fd = openSync(file, 'r');
  fsyncSync(fd);
  closeSync(fd);
  fsyncDir(tmp);
  renameSync(tmp, join(userDir, info.name));
  fsyncDir(userDir);
  if (moveLatest) replaceSymlink(info.name, join(userDir, `${info.source}-latest`));
}

/** A snapshot's record; null when the folder has none (or one of another version); damaged: state_damaged. */
export function readSnapshot(userDir: string, name: string): SnapshotInfo | null {
  const info = readJsonState(join(userDir, name, 'snapshot.json'), 'snapshot record') as SnapshotInfo | null;
  return info && info.version === 1 && info.name === name ? info : null;
}

/** Snapshot folder names under a user folder (valid names only, any order). */
export function listSnapshotNames(userDir: string): string[] {
  try {
    return readdirSync(userDir).filter((n) => isSnapshotName(n));
  } catch (e) {
    unlessMissing(e);
    return [];
  }
}

/** Removes half-written temp folders left by a crash. */
export function cleanTempFolders(userDir: string): void {
  for (const n of readdirSync(userDir))
    if (n.startsWith('.tmp-')) rmSync(join(userDir, n), { recursive: true, force: true });
}
