/**
 * snapshots — snapshot folders on disk.
 *
 *   users/<SN>/<source>-YYYY-MM-DD_HH:MM/snapshot.json
 *   users/<SN>/<source>-latest -> <source>-YYYY-MM-DD_HH:MM
 *
 * A snapshot folder holds no file copies, only snapshot.json (the root tree
 * id, counts, sizes, run id): an object of the store under the key
 * users/<SN>/<name>/snapshot.json, put if absent (the local store writes the
 * folder hidden, flushes and renames it into place). Names are UTC minutes;
 * seconds (then milliseconds) are appended only when the name is taken.
 *
 * `-latest` is a convenience kept by the local store (an atomic symlink
 * swap) for people browsing the folder and for the 2008 clients' layout; no
 * code of the server reads it — "latest" is derived from the records (the
 * catalog's newest snapshot per source), so a store without links (S3) loses
 * nothing.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isSnapshotName } from '../../protocol/names.js';
import { readAll, snapshotKey, type ObjectStore } from './object-store.js';
import { readJsonState } from '../../platform/fs-errors.js';

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

/** A free snapshot name for `source` at time t among `serial`'s records. */
export async function allocateName(objects: ObjectStore, serial: string, source: string, t: Date): Promise<string> {
  const taken = new Set(await listSnapshotNames(objects, serial));
  for (const p of ['min', 'sec', 'ms'] as const) {
    const name = `${source}-${stampOf(t, p)}`;
    if (!taken.has(name)) return name;
  }
  throw new Error(`snapshot name clash for ${source} at ${t.toISOString()}`);
}

/** Writes the snapshot record (it appears whole, or not at all) and moves `-latest`. */
export async function writeSnapshot(objects: ObjectStore, info: SnapshotInfo, moveLatest = true): Promise<void> {
  const written = await objects.putIfAbsent(snapshotKey(info.serial, info.name), JSON.stringify(info, null, 2) + '\n');
  if (!written) throw new Error(`snapshot ${info.serial}/${info.name} exists already`);
  if (moveLatest) objects.sync?.setAlias(`users/${info.serial}`, `${info.source}-latest`, info.name);
}

/**
 * A snapshot's record; null when there is none (or one of another version).
 * Unreadable or unparsable: state_damaged naming it — reindex reports it and
 * goes on, the cleanup stops on it (unindexedSnapshots).
 */
export async function readSnapshot(objects: ObjectStore, serial: string, name: string): Promise<SnapshotInfo | null> {
  const key = snapshotKey(serial, name);
  let text = '';
  let failure: unknown = null;
  try {
    text = objects.sync ? objects.sync.read(key).toString('utf8') : (await readAll(objects.get(key))).toString('utf8');
  } catch (e) {
    failure = e;
  }
  const info = readJsonState(join(objects.location, key), 'snapshot record', () => {
    if (failure) throw failure;
    return text;
  }) as SnapshotInfo | null;
  return info && info.version === 1 && info.name === name ? info : null;
}

/** Names of `serial`'s snapshot records (valid names only, any order). */
export async function listSnapshotNames(objects: ObjectStore, serial: string): Promise<string[]> {
  const prefix = `users/${serial}/`;
  const out: string[] = [];
  const keys = objects.sync ? objects.sync.list(prefix) : objects.list(prefix);
  for await (const { key } of keys) {
    const rest = key.slice(prefix.length).split('/');
    if (rest.length === 2 && rest[1] === 'snapshot.json' && isSnapshotName(rest[0])) out.push(rest[0]);
  }
  return out;
}

/** Removes half-written temp folders left by a crash. */
export function cleanTempFolders(userDir: string): void {
  for (const n of readdirSync(userDir))
    if (n.startsWith('.tmp-')) rmSync(join(userDir, n), { recursive: true, force: true });
}
