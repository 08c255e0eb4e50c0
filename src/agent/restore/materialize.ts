/**
 * materialize — writes a snapshot tree into a folder.
 *
 * Plans first (what to create, what is already right, what to fetch), then
 * asks for every needed blob in a few large framed requests (the next one
 * sent while the current one is written), writes the inline files while the
 * first answer is on its way, and writes each blob's files as its bytes
 * arrive and verify (restore-writer.ts: one open/write/close per file, mode
 * and mtime set on the open file, temp + rename only when replacing an
 * existing file). Finally sets links, then folder modes and mtimes, deepest
 * first.
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
  type Tree,
  type TreeEntry,
} from '../../protocol/tree.js';
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

/**
 * Plans tree `root` into `dest`: files and links in walk order, folders after
 * everything inside them (deepest first). An explicit stack, not recursion:
 * the server's depth limit is not trusted to hold for every old snapshot.
 */
function planTree(trees: Map<string, Tree>, root: string, dest: string, plan: Plan): void {
  type Frame = { entries: TreeEntry[]; i: number; dir: string; self: Plan['dirs'][number] | null };
  const stack: Frame[] = [{ entries: trees.get(root)!.e, i: 0, dir: dest, self: null }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.i >= top.entries.length) {
      stack.pop();
      if (top.self) plan.dirs.push(top.self);
      continue;
    }
    const e = top.entries[top.i++];
    if (nameProblem(entryName(e))) continue;
    if (isDirEntry(e)) {
      const path = join(top.dir, entryName(e));
      const self = { path, in: top.dir, mode: entryMode(e), mtime: entryMtime(e) };
      stack.push({ entries: trees.get(entryRef(e))!.e, i: 0, dir: path, self });
    } else if (isFileEntry(e)) plan.files.push(new PlannedFile(top.dir, e));
    else plan.links.push({ path: join(top.dir, entryName(e)), in: top.dir, target: entryRef(e), mtime: entryMtime(e) });
  }
}

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

export async function materialize(
  client: ApiClient,
  trees: Map<string, Tree>,
  root: string,
  dest: string,
  opts: {
    overwriteNewer: boolean;
    rootEntry?: TreeEntry;
    onStart?: (bytes: number) => void;
    onProgress?: (n: number) => void;
  },
): Promise<MaterializeStats> {
  const plan: Plan = { dirs: [], files: [], links: [] };
  planTree(trees, root, dest, plan);
  const stats: MaterializeStats = {
    files: plan.files.length + plan.links.length,
    written: 0,
    skipped: 0,
    keptNewer: 0,
    bytes: 0,
  };
  // Folders created now are empty: nothing in them needs a look.
  const fresh = new Set<string>();
  if (ensureDir(dest)) fresh.add(dest);
  for (let i = plan.dirs.length - 1; i >= 0; i--) {
    const d = plan.dirs[i];
    if (fresh.has(d.in)) mkdirSync(d.path);
    else if (!ensureDir(d.path)) continue;
    fresh.add(d.path);
  }
  const need = triage(plan.files, fresh, opts.overwriteNewer, stats);
  opts.onStart?.(need.reduce((a, f) => a + f.size, 0));
  await fetchInto(client, need, stats, opts.onProgress ?? (() => {}));
  for (const l of plan.links) {
    const st = fresh.has(l.in) ? null : lstatOrNull(l.path);
    if (st?.isSymbolicLink() && readlinkSync(l.path) === l.target) continue;
    if (st) rmSync(l.path, { recursive: true, force: true });
    symlinkSync(l.target, l.path);
  }
  for (const d of plan.dirs) {
    chmodSync(d.path, d.mode);
    utimesSync(d.path, d.mtime / 1000, d.mtime / 1000);
  }
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
