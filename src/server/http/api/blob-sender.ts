/**
 * blob-sender — writes pool blobs to an HTTP response as frames
 * (common/frames.ts), for restores.
 *
 * Frames are packed into a few fixed buffers: each blob's header and bytes
 * are read (readSync) straight into the current buffer, which goes to the
 * socket when full and is reused once the socket has taken it. So a
 * restore of any size allocates SLOTS × SLOT bytes once — no Buffer per
 * blob, no copy — and thousands of small blobs cost one socket write per
 * MiB, while a large blob simply spans several buffers. The length is
 * known up front (sum of header + size), so the answer has a
 * Content-Length, not chunked framing.
 *
 * Contract: sizes were checked by the caller (the route answers 404 before
 * anything is sent). A blob that reads short now (a damaged pool) ends the
 * connection mid-frame: the client sees a broken stream, never wrong bytes
 * under a right name (and it verifies every blob's hash anyway). A blob
 * whose bytes do not hash to its id is flagged by the store's verified
 * reads and still framed: the agent refuses it by name.
 */
import type { ServerResponse } from 'node:http';
import { FRAME_HEADER } from '../../../protocol/frames.js';
import { isAppError } from '../../../platform/errors.js';
import type { Pool } from '../../store/pool.js';

const SLOT = 1024 * 1024;
const SLOTS = 4;
/** Small blobs fetched ahead from a remote store. */
const AHEAD = 16;

class SlotRing {
  private free: Buffer[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  constructor() {
    for (let i = 0; i < SLOTS; i++) this.free.push(Buffer.allocUnsafe(SLOT));
  }

  async take(): Promise<Buffer> {
    while (!this.free.length) {
      if (this.closed) throw new Error('the client went away');
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return this.free.pop()!;
  }

  give(b: Buffer): void {
    this.free.push(b);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

export function framesLength(sizes: number[]): number {
  return sizes.reduce((a, s) => a + FRAME_HEADER + s, 0);
}

/** Sends the frames of `ids` (with their `sizes`) and ends the response; destroys it on failure. */
export async function sendBlobFrames(res: ServerResponse, pool: Pool, ids: string[], sizes: number[]): Promise<void> {
  const ring = new SlotRing();
  const ahead = new Map<number, Promise<Buffer>>();
  res.once('close', () => ring.close());
  let buf = await ring.take();
  let used = 0;
  const flush = async () => {
    if (ring.closed) throw new Error('the client went away');
    const b = buf;
    res.write(b.subarray(0, used), () => ring.give(b));
    used = 0;
    buf = await ring.take();
  };
  try {
    for (let i = 0; i < ids.length; i++) {
      if (SLOT - used < FRAME_HEADER) await flush();
      buf.write(ids[i], used, 32, 'hex');
      buf[used + 32] = 0;
      buf.writeUInt32BE(sizes[i], used + 33);
      used += FRAME_HEADER;
      if (sizes[i] === 0) continue;
      if (!pool.local) {
        // A remote store: whole small blobs fetched a few ahead, large ones streamed; copied into the slots.
        for (let j = i; j < Math.min(ids.length, i + AHEAD); j++)
          if (!ahead.has(j) && sizes[j] <= SLOT) ahead.set(j, pool.readBlob(ids[j]));
        const whole = ahead.get(i);
        ahead.delete(i);
        let got = 0;
        for await (const c of whole ? [await whole] : pool.blobStream(ids[i])) {
          const chunk = c as Buffer;
          got += chunk.length;
          if (got > sizes[i]) throw new Error(`blob ${ids[i]} is longer than its recorded size`);
          for (let off = 0; off < chunk.length;) {
            if (used === SLOT) await flush();
            const n = chunk.copy(buf, used, off);
            used += n;
            off += n;
          }
        }
        if (got !== sizes[i]) throw new Error(`blob ${ids[i]} is shorter than its recorded size`);
        continue;
      }
      const blob = pool.openBlob(ids[i]);
      try {
        for (let off = 0; off < sizes[i];) {
          if (used === SLOT) await flush();
          let n: number;
          try {
            n = blob.read(buf, used, Math.min(SLOT - used, sizes[i] - off), off);
          } catch (e) {
            // The read that completed the blob found it damaged (verified-reads.ts: already logged and
            // flagged for verify). The frame still goes out whole: the agent checks every frame's hash
            // and names the damaged file, which a cut connection ("socket hang up") would hide.
            if (!(isAppError(e) && e.code === 'damaged')) throw e;
            n = sizes[i] - off;
          }
          if (n <= 0) throw new Error(`blob ${ids[i]} is shorter than its recorded size`);
          used += n;
          off += n;
        }
      } finally {
        blob.close();
      }
    }
    if (used) res.write(buf.subarray(0, used));
    res.end();
  } catch (e) {
    for (const p of ahead.values()) p.catch(() => {}); // fetched ahead, never sent: their failures are moot
    res.destroy(e as Error);
    throw e;
  }
}
