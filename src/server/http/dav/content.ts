/**
 * dav/content — the one place WebDAV reads stored bytes: trees by id and
 * file contents by catalog reference, through the pool's own functions
 * (store/pool.ts). After the object-store interface lands, only this module
 * needs re-pointing.
 *
 * A reference names a pool blob (streamed from its file, never read whole)
 * or carries a small file inline (`inline:<base64>`).
 */
import { Readable } from 'node:stream';
import { readTrustedTree, type Tree } from '../../../protocol/tree.js';
import type { Pool } from '../../store/pool.js';

export interface DavContent {
  tree(id: string): Promise<Tree>;
  /** Bytes of the referenced file, -1 when the pool lacks it. */
  size(ref: string): Promise<number>;
  /** A stream of bytes start…end (inclusive) of the referenced file. */
  open(ref: string, start: number, end: number): Readable;
}

export function poolContent(pool: Pool): DavContent {
  return {
    tree: async (id) => readTrustedTree(await pool.readTree(id)),
    size: (ref) => {
      return pool.sourceSize(pool.refSource(ref));
    },
    open: (ref, start, end) => {
      const s = pool.refSource(ref);
      if (Buffer.isBuffer(s)) return Readable.from([s.subarray(start, end + 1)]);
      if ('blob' in s) return pool.blobStream(s.blob, { start, end: end + 1 }); // ByteRange.end is exclusive
      return Readable.from(chunkRange(pool, s.chunks, start, end + 1));
    },
  };
}

/** Bytes [start, end) of a chunked file: only the chunks that overlap, each read from its own offset. */
async function* chunkRange(pool: Pool, chunks: ReadonlyArray<readonly [string, number]>, start: number, end: number) {
  let off = 0;
  for (const [id, size] of chunks) {
    const from = Math.max(start, off);
    const to = Math.min(end, off + size);
    if (from < to) yield* pool.blobStream(id, { start: from - off, end: to - off });
    off += size;
    if (off >= end) return;
  }
}
