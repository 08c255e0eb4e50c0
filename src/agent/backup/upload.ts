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
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { deflateRawSync, constants as zc } from 'node:zlib';
import type { Writable } from 'node:stream';
import { FLAG_DEFLATE, FRAME_HEADER, frameHeader } from '../../protocol/frames.js';
import { API, apiPath } from '../../protocol/api.js';
import type { UploadAnswer } from '../../protocol/api-types.js';
import type { ApiClient } from '../client.js';
import type { BlobRef } from '../../snapshot/scan.js';

export class FileChangedError extends Error {
  constructor(readonly path: string) {
    super(`${path} changed while it was being backed up`);
  }
}

/** A blob as the scan found it: its bytes are sent only while the file keeps the scanned size and mtime. */
export type UploadItem = BlobRef;

export interface UploadStats {
  blobs: number;
  bytes: number;
  wireBytes: number;
  /** Blobs the server had and this laptop proved instead of sending (prove.ts), and their bytes. */
  proven: number;
  provenBytes: number;
}

const histogram = new Uint32Array(256);

/**
 * Whether deflate is worth trying: the order-0 entropy of a sample (at most
 * SAMPLE bytes) is under 7 bits a byte. Photos, sound, video and zipped
 * bundles sit near 8 and are sent as they are; text and raw formats fall
 * well below. Allocation-free: a trial deflate of every blob's first 8 KiB
 * left ~30 MB of garbage buffers behind on a first backup (BENCHMARKS.md).
 */
export function looksCompressible(data: Buffer): boolean {
  const n = Math.min(data.length, SAMPLE);
  if (n < 512) return false;
  histogram.fill(0);
  for (let i = 0; i < n; i++) histogram[data[i]]++;
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = histogram[b];
    if (c) bits -= c * Math.log2(c / n);
  }
  return bits / n < 7;
}

function maybeDeflate(data: Buffer): { flags: number; payload: Buffer } {
  if (!looksCompressible(data)) return { flags: 0, payload: data };
  const z = deflateRawSync(data, { level: 1, strategy: zc.Z_DEFAULT_STRATEGY });
  return z.length < data.length * 0.9 ? { flags: FLAG_DEFLATE, payload: z } : { flags: 0, payload: data };
}

/** Throws FileChangedError unless the open file still has the scanned size and mtime. */
function checkUnchanged(fd: number, item: UploadItem): void {
  const st = fstatSync(fd);
  if (st.size !== (item.fileSize ?? item.size) || st.mtimeMs !== item.mtime) throw new FileChangedError(item.path);
}

/** Fills `into` from the file at `position`; a file that ends early has changed. */
function readFully(fd: number, into: Buffer, position: number, item: UploadItem): void {
  let off = 0;
  while (off < into.length) {
    const n = readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new FileChangedError(item.path);
    off += n;
  }
}

/**
 * Reads a blob's bytes into `into` and checks they are still the scanned
 * ones by size and mtime (fstat of the open file, before and after the
 * read), not by hashing again — that cost the agent a third of its CPU on a
 * first backup (BENCHMARKS.md). The server hashes every blob anyway and
 * refuses one that does not match its name.
 */
function readVerifiedInto(item: UploadItem, into: Buffer): Buffer {
  const fd = openSync(item.path, 'r');
  try {
    checkUnchanged(fd, item);
    readFully(fd, into, item.offset ?? 0, item);
    checkUnchanged(fd, item);
    return into;
  } finally {
    closeSync(fd);
  }
}

/**
 * Write buffer of a batch. 1 MiB: a blob that fits is read straight into it
 * behind its header; a bigger one streams through it piece by piece. Slabs
 * are reused by every batch of the run (at most 2 per request in flight):
 * 4 MiB slabs, one per whole batched blob, were a fifth of the agent's
 * peak memory (BENCHMARKS.md).
 */
const SLAB = 1024 * 1024;
const freeSlabs: Buffer[] = [];
const SAMPLE = 8192;
const sampleBuf = Buffer.allocUnsafe(SAMPLE);

/**
 * Writes through two reused slabs: a full slab goes out as one write and is
 * refilled only after that write was flushed. No buffer per blob, so the
 * agent's memory stays flat however much it sends (a buffer per blob left
 * ~70 MB of garbage waiting for a full GC — BENCHMARKS.md).
 */
class SlabWriter {
  private slabs = [freeSlabs.pop() ?? Buffer.allocUnsafe(SLAB), freeSlabs.pop() ?? Buffer.allocUnsafe(SLAB)];
  private inFlight: Array<Promise<void> | null> = [null, null];
  private cur = 0;
  off = 0;
  constructor(private readonly out: Writable) {}

  get slab(): Buffer {
    return this.slabs[this.cur];
  }

  get room(): number {
    return SLAB - this.off;
  }

  async flush(): Promise<void> {
    if (this.off === 0) return;
    const chunk = this.slab.subarray(0, this.off);
    const written = new Promise<void>((ok, fail) => this.out.write(chunk, (e) => (e ? fail(e) : ok())));
    written.catch(() => {}); // observed when awaited; never an unhandled rejection if the producer fails first
    this.inFlight[this.cur] = written;
    this.cur ^= 1;
    this.off = 0;
    if (this.inFlight[this.cur]) await this.inFlight[this.cur];
    this.inFlight[this.cur] = null;
  }

  /** Copies bytes in, flushing as slabs fill. */
  async put(b: Buffer): Promise<void> {
    for (let at = 0; at < b.length;) {
      if (this.room === 0) await this.flush();
      const n = b.copy(this.slab, this.off, at, Math.min(b.length, at + this.room));
      this.off += n;
      at += n;
    }
  }

  /** Reads the file's bytes from `start` to `end` in, piece by piece. */
  async putFile(
    fd: number,
    start: number,
    end: number,
    item: UploadItem,
    progress?: (n: number) => void,
  ): Promise<void> {
    for (let pos = start; pos < end;) {
      if (this.room === 0) await this.flush();
      const n = Math.min(this.room, end - pos);
      readFully(fd, this.slab.subarray(this.off, this.off + n), pos, item);
      this.off += n;
      pos += n;
      progress?.(n);
    }
  }

  async close(): Promise<void> {
    await this.flush();
    await Promise.all(this.inFlight.filter(Boolean));
    freeSlabs.push(...this.slabs);
  }
}

/** A blob that fits a slab: read in place behind its header, deflated there when that pays. */
async function putSmall(w: SlabWriter, it: UploadItem): Promise<number> {
  if (w.room < FRAME_HEADER + it.size) await w.flush();
  const data = readVerifiedInto(it, w.slab.subarray(w.off + FRAME_HEADER, w.off + FRAME_HEADER + it.size));
  const { flags, payload } = maybeDeflate(data);
  if (payload !== data) payload.copy(w.slab, w.off + FRAME_HEADER);
  frameHeader(it.id, flags, payload.length).copy(w.slab, w.off);
  w.off += FRAME_HEADER + payload.length;
  return FRAME_HEADER + payload.length;
}

/** A bigger blob: streamed raw through the slabs, or (text and the like) deflated whole first. */
async function putLarge(w: SlabWriter, it: UploadItem): Promise<number> {
  const fd = openSync(it.path, 'r');
  try {
    checkUnchanged(fd, it);
    const at = it.offset ?? 0;
    readFully(fd, sampleBuf, at, it);
    if (looksCompressible(sampleBuf)) {
      const whole = Buffer.allocUnsafe(it.size);
      readFully(fd, whole, at, it);
      checkUnchanged(fd, it);
      const { flags, payload } = maybeDeflate(whole);
      await w.put(frameHeader(it.id, flags, payload.length));
      await w.put(payload);
      return FRAME_HEADER + payload.length;
    }
    await w.put(frameHeader(it.id, 0, it.size));
    await w.putFile(fd, at, at + it.size, it);
    checkUnchanged(fd, it);
    return FRAME_HEADER + it.size;
  } finally {
    closeSync(fd);
  }
}

function framesProducer(items: UploadItem[], stats: UploadStats, progress: (n: number) => void) {
  return async (out: Writable): Promise<void> => {
    const w = new SlabWriter(out);
    for (const it of items) {
      stats.wireBytes += FRAME_HEADER + it.size <= SLAB ? await putSmall(w, it) : await putLarge(w, it);
      progress(it.size);
    }
    await w.close();
  };
}

export async function sendBatch(
  client: ApiClient,
  lease: string,
  items: UploadItem[],
  stats: UploadStats,
  progress: (n: number) => void,
): Promise<void> {
  await client.json(API.blobs.method, apiPath(API.blobs, { lease }), { body: framesProducer(items, stats, progress) });
  stats.blobs += items.length;
  stats.bytes += items.reduce((a, b) => a + b.size, 0);
}

/** The rest of a large blob, from the offset the server has, through reused slabs. */
function tailProducer(it: UploadItem, from: number, progress: (n: number) => void) {
  return async (out: Writable): Promise<void> => {
    const fd = openSync(it.path, 'r');
    try {
      checkUnchanged(fd, it);
      const w = new SlabWriter(out);
      const at = it.offset ?? 0;
      await w.putFile(fd, at + from, at + it.size, it, progress);
      await w.close();
      checkUnchanged(fd, it);
    } finally {
      closeSync(fd);
    }
  };
}

export async function sendLarge(
  client: ApiClient,
  lease: string,
  it: UploadItem,
  stats: UploadStats,
  progress: (n: number) => void,
): Promise<void> {
  const state = await client.call(API.uploadOffset, { lease, id: it.id });
  progress(state.offset);
  if (!state.complete) {
    const r = await client.json<UploadAnswer>(API.upload.method, apiPath(API.upload, { lease, id: it.id }), {
      body: tailProducer(it, state.offset, progress),
      headers: { 'upload-offset': String(state.offset), 'upload-length': String(it.size) },
    });
    stats.wireBytes += it.size - state.offset;
    if (!r.complete) throw new FileChangedError(it.path);
  }
  stats.blobs++;
  stats.bytes += it.size;
}
