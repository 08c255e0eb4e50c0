/**
 * frames — the binary framing of blob streams (upload batches, restore fetches).
 *
 * A stream is a sequence of frames: 32 bytes raw SHA-256 of the blob, 1 byte
 * flags (bit 0: payload is raw-deflate compressed), 4 bytes big-endian payload
 * length, then the payload. Many small blobs travel in one HTTP request this
 * way. The reader enforces a payload limit before buffering anything, so a
 * hostile length cannot make the receiver allocate.
 */
import { AppError } from './errors.js';

export const FRAME_HEADER = 37;
export const FLAG_DEFLATE = 1;

export interface Frame {
  id: string;
  flags: number;
  payload: Buffer;
}

export function frameHeader(id: string, flags: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.write(id, 0, 32, 'hex');
  h[32] = flags;
  h.writeUInt32BE(length, 33);
  return h;
}

/** Accumulates chunks and hands out exact-size slices. */
class ChunkQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      this.length -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const want = n - off;
      if (c.length <= want) {
        c.copy(out, off);
        off += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, off, 0, want);
        this.chunks[0] = c.subarray(want);
        off += want;
      }
    }
    this.length -= n;
    return out;
  }

  /** The next n bytes as slices of the queued chunks (no copy). */
  takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      if (c.length <= left) {
        parts.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.length -= n;
    return parts;
  }
}

export interface FrameParts {
  id: string;
  flags: number;
  /** The payload as it arrived, in one or more slices of the stream's chunks. */
  parts: Buffer[];
  length: number;
}

/**
 * Reads frames from a byte stream, each payload as slices of the chunks it
 * arrived in (a receiver that hashes and writes slice by slice copies
 * nothing). Throws too_large / bad_request on bad framing.
 */
export async function* readFrameParts(source: AsyncIterable<Buffer | Uint8Array>, maxPayload: number): AsyncGenerator<FrameParts> {
  const q = new ChunkQueue();
  let header: { id: string; flags: number; len: number } | null = null;
  for await (const chunk of source) {
    q.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    while (true) {
      if (!header) {
        if (q.length < FRAME_HEADER) break;
        const h = q.take(FRAME_HEADER);
        const len = h.readUInt32BE(33);
        if (len > maxPayload) throw new AppError('too_large', `blob frame of ${len} bytes exceeds ${maxPayload}`);
        header = { id: h.toString('hex', 0, 32), flags: h[32], len };
      }
      if (q.length < header.len) break;
      yield { id: header.id, flags: header.flags, parts: q.takeParts(header.len), length: header.len };
      header = null;
    }
  }
  if (header || q.length > 0) throw new AppError('bad_request', 'blob stream ended inside a frame');
}

/** Reads frames from a byte stream, each payload in one buffer. */
export async function* readFrames(source: AsyncIterable<Buffer | Uint8Array>, maxPayload: number): AsyncGenerator<Frame> {
  for await (const f of readFrameParts(source, maxPayload)) {
    yield { id: f.id, flags: f.flags, payload: f.parts.length === 1 ? f.parts[0] : Buffer.concat(f.parts, f.length) };
  }
}
