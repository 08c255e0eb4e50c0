/**
 * file-hash — the one SHA-256 of a file on disk (a blob's id, protocol/hash.ts).
 *
 * hashFd: synchronous, from an already opened descriptor (the caller opened
 * it safely: O_NOFOLLOW, a regular file, confined), in 1 MiB reads through
 * one reused buffer; `also` sees every chunk (a copy made while hashing).
 * Used by the agent's scanner and the server's legacy ingest.
 * hashPath / hashStream: asynchronous, streamed, for the server's long reads
 * that must not hold the event loop (resumable-upload completion; verify,
 * which reads objects through the object store's get()).
 */
import { createReadStream, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

const CHUNK = 1024 * 1024;
const READ_BUF = Buffer.allocUnsafe(CHUNK);

export function hashFd(fd: number, also?: (chunk: Buffer) => void): { hash: string; size: number } {
  const h = createHash('sha256');
  let size = 0;
  for (;;) {
    const n = readSync(fd, READ_BUF, 0, CHUNK, null);
    if (n === 0) break;
    const part = READ_BUF.subarray(0, n);
    h.update(part);
    also?.(part);
    size += n;
  }
  return { hash: h.digest('hex'), size };
}

export function hashPath(path: string): Promise<{ hash: string; size: number }> {
  return hashStream(createReadStream(path));
}

/** The same, of a stream of the file's bytes (an object store's get()). */
export function hashStream(stream: Readable): Promise<{ hash: string; size: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    stream
      .on('data', (c: Buffer) => {
        size += c.length;
        h.update(c);
      })
      .on('end', () => resolve({ hash: h.digest('hex'), size }))
      .on('error', reject);
  });
}
