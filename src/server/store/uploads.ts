/**
 * uploads — blob bytes arriving from agents.
 *
 * Small blobs travel many to one request as frames (common/frames.ts); each is
 * inflated if flagged, hashed, and staged only when the hash matches its
 * name. The batch is flushed with one syncfs and then published, so the reply
 * "stored" means durable. A blob whose bytes do not match is never stored.
 *
 * Large blobs use resumable uploads (tus-like): `incoming/<id>.<serial>.part`
 * grows by appends that must start at its current size; when it reaches the
 * declared length it is hashed, flushed and handed to the object store
 * (putFile: a rename locally, an upload elsewhere). A broken connection
 * keeps every byte received, so a retry sends only the rest.
 *
 * Proof of possession (protocol/proof.ts): every blob whose bytes arrived and
 * hashed to its name — stored, or a duplicate of one the pool had — is
 * reported to the caller (`received`), which makes the account its owner. A
 * resumable upload says "complete" up front only for a blob the account
 * owns; for any other it is an ordinary upload (a laptop learns neither
 * existence nor size of another's blob from it).
 */
import {
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
  closeSync,
  readdirSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { inflateRawSync } from 'node:zlib';
import { AppError, diskFull, isDiskFull } from '../../platform/errors.js';
import { readFrameParts, type FrameParts } from '../../protocol/frame-parser.js';
import { FLAG_DEFLATE } from '../../protocol/frames.js';
import { BATCH_BLOB_MAX, BATCH_BODY_MAX } from '../../protocol/limits.js';
import { TINY_BLOB } from './pool.js';
import type { Store } from './store.js';
import type { StagedObject } from './object-store.js';
import { unlessMissing } from '../../platform/fs-errors.js';
import { hashPath } from '../../platform/file-hash.js';

export interface BatchResult {
  stored: number;
  duplicates: number;
  bytes: number;
  rejected: string[];
}

/**
 * The request body, read so that a reader stopping early (a full disk, a bad
 * frame, too many bytes) leaves the request alone: destroying it would reset
 * the connection before the error answer (507, 4xx) is out, and the client
 * would see "connection reset" instead of the reason. The error handler
 * closes the connection after answering (http-errors.ts).
 */
function undestroyed(body: AsyncIterable<Buffer> | NodeJS.ReadableStream): AsyncIterable<Buffer> {
  return body instanceof Readable
    ? (body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>)
    : (body as AsyncIterable<Buffer>);
}

function countBytes(limit: number, source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  return (async function* () {
    let n = 0;
    for await (const chunk of source) {
      n += chunk.length;
      if (n > limit) throw new AppError('too_large', `upload batch larger than ${limit} bytes`);
      yield chunk;
    }
  })();
}

function inflate(payload: Buffer): Buffer {
  try {
    return inflateRawSync(payload, { maxOutputLength: BATCH_BLOB_MAX });
  } catch {
    // Any zlib failure (corrupt data, past maxOutputLength) is the client's: 400.
    throw new AppError('bad_request', 'a compressed blob could not be inflated (or inflates past the limit)');
  }
}

/** Staged writes in flight at once (each holds its blob's slices of the request body). */
const WRITES_IN_FLIGHT = 4;

function payloadOf(f: FrameParts): Buffer[] {
  if (!(f.flags & FLAG_DEFLATE)) return f.parts;
  return [inflate(f.parts.length === 1 ? f.parts[0] : Buffer.concat(f.parts, f.length))];
}

function hashParts(parts: Buffer[]): { id: string; bytes: number } {
  const h = createHash('sha256');
  let bytes = 0;
  for (const p of parts) {
    h.update(p);
    bytes += p.length;
  }
  return { id: h.digest('hex'), bytes };
}

/**
 * Receives one framed batch: each blob is hashed as it arrives and written to
 * a temp file off the event loop (a few at a time) while the next frames are
 * read; then one flush, then every blob is published under its name.
 */
export async function receiveBatch(
  store: Store,
  body: AsyncIterable<Buffer>,
  received: (ids: string[]) => void = () => {},
): Promise<BatchResult> {
  const result: BatchResult = { stored: 0, duplicates: 0, bytes: 0, rejected: [] };
  const staged: StagedObject[] = [];
  const inBatch = new Set<string>();
  const verified: string[] = [];
  const writes = new Set<Promise<void>>();
  let failed: unknown = null;
  const write = (id: string, parts: Buffer[]) => {
    const w: Promise<void> = store.pool
      .stageBlob(id, parts)
      .then(
        (s) => void staged.push(s),
        (e) => void (failed ??= e),
      )
      .finally(() => writes.delete(w));
    writes.add(w);
  };
  try {
    for await (const f of readFrameParts(countBytes(BATCH_BODY_MAX, undestroyed(body)), BATCH_BLOB_MAX + 1024)) {
      const parts = payloadOf(f);
      const got = hashParts(parts);
      if (got.id !== f.id) {
        result.rejected.push(f.id);
        continue;
      }
      result.bytes += got.bytes;
      verified.push(f.id);
      if (inBatch.has(f.id) || (await store.pool.claimBlob(f.id)) >= 0) {
        result.duplicates++;
        continue;
      }
      inBatch.add(f.id);
      if (got.bytes <= TINY_BLOB) store.pool.rememberTiny(f.id, parts.length === 1 ? parts[0] : Buffer.concat(parts));
      write(f.id, parts);
      if (writes.size >= WRITES_IN_FLIGHT) await Promise.race(writes);
      if (failed) throw failed;
    }
    await Promise.all(writes);
    if (failed) throw failed;
    await store.pool.flush();
    await store.pool.publish(staged);
  } catch (e) {
    await Promise.allSettled(writes);
    store.pool.discard(staged);
    throw e;
  }
  result.stored = staged.length;
  received(verified);
  if (result.rejected.length) {
    throw new AppError(
      'hash_mismatch',
      `${result.rejected.length} blobs did not match their hash and were not stored`,
      {
        details: { rejected: result.rejected, stored: result.stored },
      },
    );
  }
  return result;
}

/** The local file a resumable upload grows in (scratch space of the store, not an object). */
export function partPath(store: Store, serial: string, id: string): string {
  return store.objects.scratchPath(`${id}.${serial}.part`);
}

/**
 * Bytes of a resumable upload already received (the blob's size when complete:
 * only when `owned`, the account owns it — else the part file's size).
 */
export async function uploadOffset(
  store: Store,
  serial: string,
  id: string,
  owned: boolean,
): Promise<{ offset: number; complete: boolean }> {
  const size = owned ? await store.pool.claimBlob(id) : -1;
  if (size >= 0) return { offset: size, complete: true };
  try {
    return { offset: statSync(partPath(store, serial, id)).size, complete: false };
  } catch (e) {
    unlessMissing(e);
    return { offset: 0, complete: false };
  }
}

const hashFile = async (path: string) => (await hashPath(path)).hash;

function limitStream(max: number): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > max) cb(new AppError('too_large', 'upload runs past its declared length'));
      else cb(null, chunk);
    },
  });
}

/**
 * Parts being appended to right now. One request at a time per part: a second
 * PATCH racing the first could otherwise keep appending to the file after the
 * first renamed it into the pool (wrong bytes under a valid name).
 */
const busyParts = new Set<string>();

/**
 * Appends a body at `offset`; completes the blob when `length` is reached and
 * the bytes hash to `id` (then `received` is called: the account owns it).
 */
export async function appendUpload(
  store: Store,
  serial: string,
  id: string,
  offset: number,
  length: number,
  body: NodeJS.ReadableStream,
  owned: boolean,
  received: () => void,
): Promise<{ offset: number; complete: boolean }> {
  const part = partPath(store, serial, id);
  if (busyParts.has(part)) throw new AppError('conflict', `another upload of ${id} from this laptop is in progress`);
  busyParts.add(part);
  try {
    const r = await appendLocked(store, part, serial, id, offset, length, body, owned);
    if (r.complete) received();
    return r;
  } finally {
    busyParts.delete(part);
  }
}

async function appendLocked(
  store: Store,
  part: string,
  serial: string,
  id: string,
  offset: number,
  length: number,
  body: NodeJS.ReadableStream,
  owned: boolean,
): Promise<{ offset: number; complete: boolean }> {
  const cur = await uploadOffset(store, serial, id, owned);
  if (cur.complete) return cur;
  if (offset !== cur.offset)
    throw new AppError('conflict', `upload of ${id} is at offset ${cur.offset}, not ${offset}`, {
      details: { offset: cur.offset },
    });
  try {
    await pipeline(
      Readable.from(undestroyed(body), { objectMode: false }),
      limitStream(length - offset),
      createWriteStream(part, { flags: 'a', mode: 0o444 }),
    );
  } catch (e) {
    if (e instanceof AppError) throw e;
    // A full disk is said as such (never a success-looking offset); the lease's parts are released later.
    if (isDiskFull(e)) throw diskFull();
    // A broken connection: keep what arrived, the client resumes from there.
  }
  const size = existsSync(part) ? statSync(part).size : 0;
  if (size < length) return { offset: size, complete: false };
  if ((await hashFile(part)) !== id) {
    unlinkSync(part);
    throw new AppError('hash_mismatch', `uploaded bytes do not match ${id}; the upload was discarded`);
  }
  const fd = openSync(part, 'r');
  fsyncSync(fd);
  closeSync(fd);
  await store.pool.putBlobFile(id, part);
  return { offset: size, complete: true };
}

/**
 * Removes resumable parts in scratch space: one laptop's (`serial`) or every
 * laptop's, except those being appended to right now. Called when a lease
 * ends without a commit while the disk is tight (issue #16 §3: an aborted
 * backup's bytes must not keep every later one out) and by the cleanup on a
 * full disk. Returns the bytes freed.
 */
export function releaseParts(store: Store, serial?: string): number {
  let freed = 0;
  const dir = dirname(store.objects.scratchPath('probe'));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith('.part') || (serial !== undefined && !name.endsWith(`.${serial}.part`))) continue;
    const path = join(dir, name);
    if (busyParts.has(path)) continue;
    try {
      freed += statSync(path).size;
      unlinkSync(path);
    } catch {
      /* gone already */
    }
  }
  return freed;
}
