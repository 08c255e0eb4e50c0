/**
 * materialize — writes a snapshot tree into a folder.
 *
 * Walks the tree depth first, creating folders as it enters them, and
 * plans files a batch at a time (BATCH_FILES: memory does not grow with
 * the snapshot): what is already right, what to fetch; then
 * asks for the batch's blobs in a few large framed requests (the next one
 * sent while the current one is written), writes the inline files while the
 * first answer is on its way, and writes each blob's files as its bytes
 * arrive and verify (restore-writer.ts: one open/write/close per file, mode
 * and mtime set on the open file, temp + rename only when replacing an
 * existing file). After each batch: links, then the modes and mtimes of the
 * folders finished so far, deepest first.
 *
 * A folder this run created is known to be empty, so its files need no
 * lstat. A file already present with the same size and mtime (or the same
 * bytes) is left alone, so an interrupted restore re-run skips what it
 * already did. Without `overwriteNewer`, a local file newer than the
 * backed-up one is kept — and files are then always written to a temp name
 * first, so a crash never leaves a half-written file that a re-run would
 * mistake for a newer local one. Never follows a link: a link or file where
 * a folder must be is replaced.
 */
import {
  readFileSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  chmodSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { nameProblem } from '../../protocol/names.js';
import {
  entryKind,
  entryMode,
  entryMtime,
  entryName,
  entryRef,
  isChunkedEntry,
  isFileEntry,
  isDirEntry,
  type TreeEntry,
} from '../../protocol/tree.js';
import type { TreeSource } from './tree-spool.js';
import type { ApiClient } from '../client.js';
import { feedBlob, feedFrames, requestBlobs } from './remote.js';
import { BlobWriter, PlannedFile, writeWhole } from './restore-writer.js';
import { BLOB_FETCH_COUNT, FRAMED_BLOB_MAX } from '../../protocol/limits.js';
import { hashFile } from '../../snapshot/scan.js';
import { unlessMissing } from '../../platform/fs-errors.js';
import { restoreChunkedFile } from './chunked-restore.js';

export interface MaterializeStats {
  files: number;
  written: number;
  skipped: number;
  keptNewer: number;
  bytes: number;
}

/** Folders and links carry their parent folder's path (`in`) to know whether it is fresh; files their `dir`. */
interface Plan {
  dirs: Array<{ path: string; in: string; mode: number; mtime: number }>;
  files: PlannedFile[];
  links: Array<{ path: string; in: string; target: string; mtime: number }>;
}

/** Files planned before a batch is fetched and written: the restore's memory stays bounded. */
const BATCH_FILES = 4000;

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    unlessMissing(e);
    return null;
  }
}

/** Makes `path` a real folder, removing a link or file in the way. True when it was created (so is empty). */
function ensureDir(path: string): boolean {
  const st = lstatOrNull(path);
  if (st?.isDirectory()) return false;
  if (st) rmSync(path, { force: true });
  mkdirSync(path, { recursive: true });
  return true;
}

/** Decides per file: already right (fix metadata), keep (newer local), or fetch. */
function triage(
  files: PlannedFile[],
  fresh: Set<string>,
  overwriteNewer: boolean,
  stats: MaterializeStats,
): PlannedFile[] {
  const need: PlannedFile[] = [];
  for (const f of files) {
    if (fresh.has(f.dir)) {
      f.direct = overwriteNewer;
      need.push(f);
      continue;
    }
    const st = lstatOrNull(f.path);
    if (st?.isFile() && st.size === f.size) {
      const inline = f.inline;
      if (
        Math.abs(st.mtimeMs - f.mtime) < 1 ||
        (inline ? readFileSync(f.path).equals(inline) : hashFile(f.path).hash === f.contentHash)
      ) {
        if ((st.mode & 0o7777) !== f.mode) chmodSync(f.path, f.mode);
        if (Math.abs(st.mtimeMs - f.mtime) >= 1) utimesSync(f.path, f.mtime / 1000, f.mtime / 1000);
        stats.skipped++;
        continue;
      }
    }
    if (st && !overwriteNewer && st.mtimeMs > f.mtime + 1) {
      stats.keptNewer++;
      continue;
    }
    f.direct = overwriteNewer && !st;
    need.push(f);
  }
  return need;
}

/** Sends a request now; its rejection is observed when awaited (never unhandled meanwhile). */
function early<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

async function fetchInto(
  client: ApiClient,
  need: PlannedFile[],
  stats: MaterializeStats,
  progress: (n: number) => void,
): Promise<void> {
  const byId = new Map<string, PlannedFile[]>();
  const inline: PlannedFile[] = [];
  const large: string[] = [];
  const chunked: PlannedFile[] = [];
  for (const f of need) {
    if (entryKind(f.e) === 'i') inline.push(f);
    else if (isChunkedEntry(f.e)) chunked.push(f);
    else {
      const same = byId.get(f.id);
      if (same) same.push(f);
      else byId.set(f.id, [f]);
      if (!same && f.size > FRAMED_BLOB_MAX) large.push(f.id);
    }
  }
  const framed = [...byId.keys()].filter((id) => byId.get(id)![0].size <= FRAMED_BLOB_MAX);
  const batches: string[][] = [];
  for (let i = 0; i < framed.length; i += BLOB_FETCH_COUNT) batches.push(framed.slice(i, i + BLOB_FETCH_COUNT));
  const writer = new BlobWriter(byId, stats, progress);
  let next = batches.length ? early(requestBlobs(client, batches[0])) : null;
  // While the server looks up and starts sending the first batch: the inline files.
  for (const f of inline) {
    const bytes = f.inline!;
    writeWhole(f, [bytes]);
    stats.written++;
    stats.bytes += bytes.length;
    progress(bytes.length);
  }
  try {
    for (let b = 0; b < batches.length; b++) {
      const body = await next!;
      next = b + 1 < batches.length ? early(requestBlobs(client, batches[b + 1])) : null;
      await feedFrames(client, body, writer, FRAMED_BLOB_MAX);
      const lost = batches[b].filter((id) => writer.awaits(id));
      if (lost.length) throw new Error(`the server's answer lacked ${lost.length} blobs (e.g. ${lost[0]})`);
    }
    for (const id of large) await feedBlob(client, id, byId.get(id)![0].size, writer);
    for (const f of chunked) {
      const n = await restoreChunkedFile(client, f);
      stats.written++;
      stats.bytes += n;
      progress(n);
    }
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/**
 * Walks the snapshot depth first (trees from `trees`, one at a time),
 * creating folders as it enters them, and writes files a batch at a time;
 * links and folder modes and mtimes follow each batch (a folder's once
 * everything in it is written).
 */
export async function materialize(
  client: ApiClient,
  trees: TreeSource,
  root: string,
  dest: string,
  opts: {
    overwriteNewer: boolean;
    rootEntry?: TreeEntry;
    onProgress?: (n: number) => void;
  },
): Promise<MaterializeStats> {
  const stats: MaterializeStats = { files: 0, written: 0, skipped: 0, keptNewer: 0, bytes: 0 };
  const progress = opts.onProgress ?? (() => {});
  // Folders created now are empty: nothing in them needs a look (forgotten once done).
  const fresh = new Set<string>();
  let plan: Plan = { dirs: [], files: [], links: [] };
  const flush = async (): Promise<void> => {
    const need = triage(plan.files, fresh, opts.overwriteNewer, stats);
    await fetchInto(client, need, stats, progress);
    for (const l of plan.links) {
      const st = fresh.has(l.in) ? null : lstatOrNull(l.path);
      if (st?.isSymbolicLink() && readlinkSync(l.path) === l.target) continue;
      if (st) rmSync(l.path, { recursive: true, force: true });
      symlinkSync(l.target, l.path);
    }
    for (const d of plan.dirs) {
      chmodSync(d.path, d.mode);
      utimesSync(d.path, d.mtime / 1000, d.mtime / 1000);
      fresh.delete(d.path);
    }
    plan = { dirs: [], files: [], links: [] };
  };
  // An explicit stack, not recursion: the server's depth limit is not trusted to hold for every old
  // snapshot. A folder's own mode and mtime are planned once everything inside it is.
  type Frame = { entries: TreeEntry[]; i: number; dir: string; self: Plan['dirs'][number] | null };
  if (ensureDir(dest)) fresh.add(dest);
  const stack: Frame[] = [{ entries: trees.get(root)!.e, i: 0, dir: dest, self: null }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.i >= top.entries.length) {
      stack.pop();
      if (top.self) plan.dirs.push(top.self);
      continue;
    }
    const e = top.entries[top.i++];
    const dir = top.dir;
    if (nameProblem(entryName(e))) continue;
    if (isDirEntry(e)) {
      const path = join(dir, entryName(e));
      if (fresh.has(dir)) mkdirSync(path);
      if (fresh.has(dir) || ensureDir(path)) fresh.add(path);
      const self = { path, in: dir, mode: entryMode(e), mtime: entryMtime(e) };
      stack.push({ entries: trees.get(entryRef(e))!.e, i: 0, dir: path, self });
    } else if (isFileEntry(e)) {
      plan.files.push(new PlannedFile(dir, e));
      stats.files++;
      if (plan.files.length >= BATCH_FILES) await flush();
    } else {
      plan.links.push({ path: join(dir, entryName(e)), in: dir, target: entryRef(e), mtime: entryMtime(e) });
      stats.files++;
    }
  }
  await flush();
  if (opts.rootEntry) {
    chmodSync(dest, entryMode(opts.rootEntry));
    utimesSync(dest, entryMtime(opts.rootEntry) / 1000, entryMtime(opts.rootEntry) / 1000);
  }
  return stats;
}

export function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    unlessMissing(e);
  }
}
