/**
 * upload — sends the blobs the server lacks.
 *
 * Small blobs (≤ 4 MiB) go many to a request as frames (common/frames.ts),
 * batches of up to 16 MiB, two requests in flight on keep-alive connections.
 * A blob is deflated only when a quick trial shows it shrinks (text does,
 * photos and sound do not). Every blob is re-hashed as it is read: a file
 * that changed since the scan raises FileChangedError instead of sending
 * bytes under a wrong name. Large blobs use resumable uploads: the server
 * says how much it already has and only the rest is sent.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { deflateRawSync, constants as zc } from 'node:zlib';
import { FLAG_DEFLATE, frameHeader } from '../common/frames.js';
import type { ApiClient } from './client.js';

export const BATCH_BLOB_MAX = 4 * 1024 * 1024;
const BATCH_BYTES = 16 * 1024 * 1024;
const BATCH_COUNT = 4000;
const PARALLEL = 2;

export class FileChangedError extends Error {
  constructor(readonly path: string) {
    super(`${path} changed while it was being backed up`);
  }
}

export interface UploadItem {
  id: string;
  path: string;
  size: number;
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

function readVerified(item: UploadItem): Buffer {
  const data = readFileSync(item.path);
  if (createHash('sha256').update(data).digest('hex') !== item.id) throw new FileChangedError(item.path);
  return data;
}

function batches(items: UploadItem[]): UploadItem[][] {
  const out: UploadItem[][] = [];
  let cur: UploadItem[] = [];
  let bytes = 0;
  for (const it of items) {
    if (cur.length && (bytes + it.size > BATCH_BYTES || cur.length >= BATCH_COUNT)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += it.size;
  }
  if (cur.length) out.push(cur);
  return out;
}

async function sendBatch(client: ApiClient, lease: string, items: UploadItem[], stats: UploadStats, progress: (n: number) => void): Promise<void> {
  async function* body() {
    for (const it of items) {
      const { flags, payload } = maybeDeflate(readVerified(it));
      stats.wireBytes += payload.length + 37;
      yield frameHeader(it.id, flags, payload.length);
      yield payload;
      progress(it.size);
    }
  }
  await client.json('POST', `/api/v1/backups/${lease}/blobs`, { body: body() });
  stats.blobs += items.length;
  stats.bytes += items.reduce((a, b) => a + b.size, 0);
}

async function sendLarge(client: ApiClient, lease: string, it: UploadItem, stats: UploadStats, progress: (n: number) => void): Promise<void> {
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

/** Uploads every item; calls progress(bytes) as data goes out. */
export async function uploadBlobs(client: ApiClient, lease: string, items: UploadItem[], progress: (n: number) => void = () => {}): Promise<UploadStats> {
  const stats: UploadStats = { blobs: 0, bytes: 0, wireBytes: 0 };
  const small = items.filter((i) => i.size <= BATCH_BLOB_MAX);
  const large = items.filter((i) => i.size > BATCH_BLOB_MAX);
  const queue = batches(small);
  const worker = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) await sendBatch(client, lease, b, stats, progress);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  for (const it of large) await sendLarge(client, lease, it, stats, progress);
  return stats;
}
