/**
 * materialize — writes a snapshot tree into a folder.
 *
 * Plans first (what to create, what is already right, what to fetch), then
 * fetches only the blobs needed, writing each file tmp → rename with its mode
 * and mtime, and finally sets folder modes and mtimes, deepest first. A file
 * already present with the same size and mtime (or the same bytes) is left
 * alone, so an interrupted restore re-run skips what it already did. Without
 * `overwriteNewer`, a local file newer than the backed-up one is kept.
 * Never follows a link: a link or file where a folder must be is replaced.
 */
import { createWriteStream, readFileSync, lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, chmodSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { tmpName } from '../common/durable.js';
import { nameProblem } from '../common/names.js';
import type { Tree, TreeEntry } from '../common/tree.js';
import type { ApiClient } from './client.js';
import { fetchBlobs, fetchBlobStream } from './remote.js';
import { hashFile } from './scan.js';

export interface PlannedFile {
  path: string;
  id: string;
  size: number;
  mode: number;
  mtime: number;
  /** Bytes of a file kept inline in its tree (nothing to fetch). */
  inline?: Buffer;
}

export interface MaterializeStats {
  files: number;
  written: number;
  skipped: number;
  keptNewer: number;
  bytes: number;
}

interface Plan {
  dirs: Array<{ path: string; mode: number; mtime: number }>;
  files: PlannedFile[];
  links: Array<{ path: string; target: string; mtime: number }>;
}

function planTree(trees: Map<string, Tree>, id: string, dir: string, plan: Plan): void {
  for (const e of trees.get(id)!.e) {
    if (nameProblem(e[0])) continue;
    const path = join(dir, e[0]);
    if (e[1] === 'd') {
      planTree(trees, e[5], path, plan);
      plan.dirs.push({ path, mode: e[2], mtime: e[3] });
    } else if (e[1] === 'f') plan.files.push({ path, id: e[5], size: e[4], mode: e[2], mtime: e[3] });
    else if (e[1] === 'i') plan.files.push({ path, id: e[5], size: e[4], mode: e[2], mtime: e[3], inline: Buffer.from(e[5], 'base64') });
    else plan.links.push({ path, target: e[5], mtime: e[3] });
  }
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** Makes `path` a real folder, removing a link or file in the way. */
function ensureDir(path: string): void {
  const st = lstatOrNull(path);
  if (st?.isDirectory()) return;
  if (st) rmSync(path, { force: true });
  mkdirSync(path, { recursive: true });
}

const FETCH_BATCH_BYTES = 32 * 1024 * 1024;
const FETCH_BATCH_COUNT = 5000;
const LARGE = 8 * 1024 * 1024;

function writeFinal(f: PlannedFile, tmp: string): void {
  chmodSync(tmp, f.mode);
  utimesSync(tmp, f.mtime / 1000, f.mtime / 1000);
  const st = lstatOrNull(f.path);
  if (st?.isDirectory()) rmSync(f.path, { recursive: true, force: true });
  renameSync(tmp, f.path);
}

/** Decides per file: already right (fix metadata), keep (newer local), or fetch. */
function triage(files: PlannedFile[], overwriteNewer: boolean, stats: MaterializeStats): PlannedFile[] {
  const need: PlannedFile[] = [];
  for (const f of files) {
    const st = lstatOrNull(f.path);
    if (st?.isFile() && st.size === f.size) {
      if (Math.abs(st.mtimeMs - f.mtime) < 1 || (f.inline ? readFileSync(f.path).equals(f.inline) : hashFile(f.path).hash === f.id)) {
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
    need.push(f);
  }
  return need;
}

async function fetchInto(client: ApiClient, need: PlannedFile[], stats: MaterializeStats, progress: (n: number) => void): Promise<void> {
  const byId = new Map<string, PlannedFile[]>();
  for (const f of need) {
    if (f.inline) {
      const tmp = tmpName(f.path);
      writeFileSync(tmp, f.inline);
      writeFinal(f, tmp);
      stats.written++;
      stats.bytes += f.inline.length;
      progress(f.inline.length);
    } else byId.set(f.id, [...(byId.get(f.id) ?? []), f]);
  }
  const write = (id: string, data: Buffer) => {
    for (const f of byId.get(id)!) {
      const tmp = tmpName(f.path);
      writeFileSync(tmp, data);
      writeFinal(f, tmp);
      stats.written++;
      stats.bytes += data.length;
    }
    progress(data.length);
  };
  let batch: string[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length) await fetchBlobs(client, batch, write);
    batch = [];
    bytes = 0;
  };
  for (const [id, fs] of byId) {
    const size = fs[0].size;
    if (size > LARGE) {
      for (const f of fs) {
        const tmp = tmpName(f.path);
        await pipeline(Readable.from(await fetchBlobStream(client, id)), createWriteStream(tmp));
        if (hashFile(tmp).hash !== id) throw new Error(`damaged download of ${f.path}`);
        writeFinal(f, tmp);
        stats.written++;
        stats.bytes += size;
        progress(size);
      }
      continue;
    }
    batch.push(id);
    bytes += size;
    if (bytes >= FETCH_BATCH_BYTES || batch.length >= FETCH_BATCH_COUNT) await flush();
  }
  await flush();
}

export async function materialize(
  client: ApiClient,
  trees: Map<string, Tree>,
  root: string,
  dest: string,
  opts: { overwriteNewer: boolean; rootEntry?: TreeEntry; onStart?: (bytes: number) => void; onProgress?: (n: number) => void },
): Promise<MaterializeStats> {
  const plan: Plan = { dirs: [], files: [], links: [] };
  planTree(trees, root, dest, plan);
  const stats: MaterializeStats = { files: plan.files.length + plan.links.length, written: 0, skipped: 0, keptNewer: 0, bytes: 0 };
  ensureDir(dest);
  for (const d of [...plan.dirs].reverse()) ensureDir(d.path);
  const need = triage(plan.files, opts.overwriteNewer, stats);
  opts.onStart?.(need.reduce((a, f) => a + f.size, 0));
  await fetchInto(client, need, stats, opts.onProgress ?? (() => {}));
  for (const l of plan.links) {
    const st = lstatOrNull(l.path);
    if (st?.isSymbolicLink() && readlinkSync(l.path) === l.target) continue;
    if (st) rmSync(l.path, { recursive: true, force: true });
    symlinkSync(l.target, l.path);
  }
  for (const d of plan.dirs) {
    chmodSync(d.path, d.mode);
    utimesSync(d.path, d.mtime / 1000, d.mtime / 1000);
  }
  if (opts.rootEntry) {
    chmodSync(dest, opts.rootEntry[2]);
    utimesSync(dest, opts.rootEntry[3] / 1000, opts.rootEntry[3] / 1000);
  }
  return stats;
}

export function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* absent */
  }
}
