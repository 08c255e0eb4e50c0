/**
 * chunked-restore — restores big files stored as content-defined chunks
 * ("c" entries, protocol/chunked.ts), one file at a time.
 *
 * The file's distinct chunks are asked for in batches (POST /blobs/fetch);
 * each chunk arrives as a frame, is held (≤ CDC_MAX bytes), checked against
 * its id, and written at every offset where the file has it (positional
 * writes: the order frames arrive in does not matter, and a chunk repeated in
 * the file is fetched once). The file is written under a temp name; once
 * every chunk is in, it is read back and must hash to the whole-file sha256
 * the tree keeps, then gets its mode and mtime and is renamed over the name.
 * Memory: one chunk and the file's list, whatever the file's size.
 */
import { closeSync, constants, fchmodSync, futimesSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import type { FrameSink } from '../../protocol/frame-parser.js';
import { parseChunkList } from '../../protocol/chunked.js';
import { CDC_MAX } from '../../protocol/fastcdc.js';
import { BLOB_FETCH_COUNT } from '../../protocol/limits.js';
import { hashFile } from '../../snapshot/scan.js';
import type { ApiClient } from '../client.js';
import { feedFrames, requestBlobs } from './remote.js';
import type { PlannedFile } from './restore-writer.js';

/** Receives one file's chunks and writes each at its offsets. */
class ChunkSink implements FrameSink {
  private id = '';
  private hash: Hash | null = null;
  private held: Buffer[] = [];
  constructor(
    private readonly fd: number,
    private readonly path: string,
    readonly offsets: Map<string, { size: number; at: number[] }>,
  ) {}

  start(id: string, flags: number, length: number): void {
    const want = this.offsets.get(id);
    if (!want) throw new AppError('hash_mismatch', `server sent a chunk that was not asked for (${id})`);
    if (flags !== 0) throw new AppError('bad_request', `server sent chunk ${id} with unknown flags ${flags}`);
    if (length !== want.size)
      throw new AppError('hash_mismatch', `server sent ${length} bytes for a chunk of ${this.path}`);
    this.id = id;
    this.hash = createHash('sha256');
    this.held = [];
  }

  data(piece: Buffer): void {
    this.hash!.update(piece);
    this.held.push(piece);
  }

  end(): void {
    if (this.hash!.digest('hex') !== this.id)
      throw new AppError('hash_mismatch', `server sent damaged bytes for ${this.path}`);
    const bytes = Buffer.concat(this.held);
    for (const at of this.offsets.get(this.id)!.at) {
      for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off, bytes.length - off, at + off);
    }
    this.offsets.delete(this.id);
    this.held = [];
  }
}

let tmpCount = 0;

/** Restores one chunked file; returns its size. */
export async function restoreChunkedFile(client: ApiClient, f: PlannedFile): Promise<number> {
  const list = parseChunkList(f.id);
  const offsets = new Map<string, { size: number; at: number[] }>();
  let pos = 0;
  for (const [id, size] of list.chunks) {
    const o = offsets.get(id);
    if (o) o.at.push(pos);
    else offsets.set(id, { size, at: [pos] });
    pos += size;
  }
  const tmp = join(dirname(f.path), `.${basename(f.path)}.${process.pid.toString(36)}-${++tmpCount}.chunks.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const sink = new ChunkSink(fd, f.path, offsets);
    const ids = [...offsets.keys()];
    for (let i = 0; i < ids.length; i += BLOB_FETCH_COUNT) {
      const batch = ids.slice(i, i + BLOB_FETCH_COUNT);
      await feedFrames(client, await requestBlobs(client, batch), sink, CDC_MAX);
      const lost = batch.filter((id) => offsets.has(id));
      if (lost.length) throw new Error(`the server's answer lacked ${lost.length} chunks of ${f.path}`);
    }
    if (pos === 0 || hashFile(tmp).hash !== list.whole)
      throw new AppError('hash_mismatch', `${f.path}: the chunks do not make the file that was backed up`);
    fchmodSync(fd, f.mode);
    futimesSync(fd, f.mtime / 1000, f.mtime / 1000);
    closeSync(fd);
    renameSync(tmp, f.path);
    return pos;
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* closed */
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* gone */
    }
    throw e;
  }
}
