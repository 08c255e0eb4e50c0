/**
 * upload — sends the blobs the server lacks.
 *
 * Small blobs (≤ 4 MiB) go many to a request as frames (common/frames.ts),
 * batches of up to 32 MiB (pipeline.ts keeps two in flight on keep-alive
 * connections).
 * A blob is deflated only when a quick trial shows it shrinks (text does,
 * photos and sound do not). Every blob is re-hashed as it is read: a file
 * that changed since the scan raises FileChangedError instead of sending
 * bytes under a wrong name. Large blobs use resumable uploads: the server
 * says how much it already has and only the rest is sent.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { deflateRawSync, constants as zc } from 'node:zlib';
import type { Writable } from 'node:stream';
import { FLAG_DEFLATE, FRAME_HEADER, frameHeader } from '../common/frames.js';
import type { ApiClient } from './client.js';

export const BATCH_BLOB_MAX = 4 * 1024 * 1024;
// 32 MiB batches, 2 in flight: half the server's per-batch flushes (a `sync -f`
// child each) of 16 MiB batches; a third request in flight bought no
// measurable time and cost 8 MiB of slabs. The server accepts up to 64 MiB.
export const BATCH_BYTES = 32 * 1024 * 1024;
export const BATCH_COUNT = 8000;

export class FileChangedError extends Error {
  constructor(readonly path: string) {
    super(`${path} changed while it was being backed up`);
  }
}

export interface UploadItem {
  id: string;
  path: string;
  size: number;
  /** mtimeMs when the scan hashed the file: if size and mtime still match, the bytes are not hashed again. */
  mtime?: number;
}

export interface UploadStats {
  blobs: number;
  bytes: number;
  wireBytes: number;
}

function maybeDeflate(data: Buffer): { flags: number; payload: Buffer } {
  if (data.length < 512) return { flags: 0, payload: data };
  const sample = data.subarray(0, 8192);
  if (deflateRawSync(sample, { level: 1 }).length > sample.length * 0.85) return { flags: 0, payload: data };
  const z = deflateRawSync(data, { level: 1, strategy: zc.Z_DEFAULT_STRATEGY });
  return z.length < data.length * 0.9 ? { flags: FLAG_DEFLATE, payload: z } : { flags: 0, payload: data };
}

/**
 * Reads a blob's bytes into `into` at `at` and checks they are still the
 * scanned ones: by size and mtime (fstat of the open file, before and after
 * the read) when the scan gave them — hashing twice cost the agent a third
 * of its CPU on a first backup (BENCHMARKS.md) — else by hashing. The server
 * hashes every blob anyway and refuses one that does not match its name.
 */
function readVerifiedInto(item: UploadItem, into: Buffer, at: number): Buffer {
  const fd = openSync(item.path, 'r');
  try {
    const before = fstatSync(fd);
    if (before.size !== item.size || (item.mtime !== undefined && before.mtimeMs !== item.mtime)) throw new FileChangedError(item.path);
    const data = into.subarray(at, at + item.size);
    let off = 0;
    while (off < data.length) {
      const n = readSync(fd, data, off, data.length - off, off);
      if (n === 0) throw new FileChangedError(item.path);
      off += n;
    }
    if (item.mtime === undefined) {
      if (createHash('sha256').update(data).digest('hex') !== item.id) throw new FileChangedError(item.path);
    } else if (fstatSync(fd).mtimeMs !== item.mtime) throw new FileChangedError(item.path);
    return data;
  } finally {
    closeSync(fd);
  }
}

/** Room for the largest batched blob and its frame header. */
const SLAB = BATCH_BLOB_MAX + 64 * 1024;
/** Slabs are reused by every batch of the run (at most 2 × PARALLEL exist). */
const freeSlabs: Buffer[] = [];

/**
 * Writes a batch's frames through two reused slabs: files are read straight
 * into a slab behind their header, a full slab goes out as one write, and a
 * slab is refilled only after its previous write was flushed. No buffer per
 * blob, so the agent's memory stays flat however much it sends (a buffer per
 * blob left ~70 MB of garbage waiting for a full GC — BENCHMARKS.md).
 */
function framesProducer(items: UploadItem[], stats: UploadStats, progress: (n: number) => void) {
  return async (out: Writable): Promise<void> => {
    const slabs = [freeSlabs.pop() ?? Buffer.allocUnsafe(SLAB), freeSlabs.pop() ?? Buffer.allocUnsafe(SLAB)];
    const inFlight: Array<Promise<void> | null> = [null, null];
    let cur = 0;
    let off = 0;
    const send = async () => {
      if (off === 0) return;
      const chunk = slabs[cur].subarray(0, off);
      inFlight[cur] = new Promise<void>((ok, fail) => out.write(chunk, (e) => (e ? fail(e) : ok())));
      cur ^= 1;
      off = 0;
      if (inFlight[cur]) await inFlight[cur];
      inFlight[cur] = null;
    };
    for (const it of items) {
      if (off + FRAME_HEADER + it.size > SLAB) await send();
      const slab = slabs[cur];
      const data = readVerifiedInto(it, slab, off + FRAME_HEADER);
      const { flags, payload } = maybeDeflate(data);
      if (payload !== data) payload.copy(slab, off + FRAME_HEADER);
      frameHeader(it.id, flags, payload.length).copy(slab, off);
      off += FRAME_HEADER + payload.length;
      stats.wireBytes += FRAME_HEADER + payload.length;
      progress(it.size);
    }
    await send();
    await Promise.all(inFlight.filter(Boolean));
    freeSlabs.push(...slabs);
  };
}

export async function sendBatch(client: ApiClient, lease: string, items: UploadItem[], stats: UploadStats, progress: (n: number) => void): Promise<void> {
  await client.json('POST', `/api/v1/backups/${lease}/blobs`, { body: framesProducer(items, stats, progress) });
  stats.blobs += items.length;
  stats.bytes += items.reduce((a, b) => a + b.size, 0);
}

export async function sendLarge(client: ApiClient, lease: string, it: UploadItem, stats: UploadStats, progress: (n: number) => void): Promise<void> {
  const path = `/api/v1/backups/${lease}/uploads/${it.id}`;
  const state = await client.json<{ offset: number; complete: boolean }>('GET', path);
  progress(state.offset);
  if (!state.complete) {
    const stream = createReadStream(it.path, { start: state.offset, highWaterMark: 1024 * 1024 });
    stream.on('data', (c) => progress(c.length));
    const r = await client.json<{ offset: number; complete: boolean }>('PATCH', path, {
      body: stream,
      headers: { 'upload-offset': String(state.offset), 'upload-length': String(it.size) },
    });
    stats.wireBytes += it.size - state.offset;
    if (!r.complete) throw new FileChangedError(it.path);
  }
  stats.blobs++;
  stats.bytes += it.size;
}
