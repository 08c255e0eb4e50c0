/**
 * frame-parser — a push parser for frame streams (common/frames.ts) that
 * never buffers a payload.
 *
 * readFrames() hands out whole payloads: simple, but a 5 MB blob costs a
 * 5 MB copy and the receiver's peak memory grows with the largest blob.
 * FrameParser instead calls back with the pieces of each payload as they
 * arrive — subarrays of the network chunks, no copy — so a restore can hash
 * and write them straight to disk whatever their size:
 *
 *   start(id, flags, length)   a frame begins (length already checked ≤ maxPayload)
 *   data(piece)                the next bytes of its payload (never empty)
 *   end()                      the payload is complete
 *
 * Callbacks may throw; the error leaves push(). finish() throws when the
 * stream stopped inside a frame. Only the 37-byte header is ever copied
 * (when it straddles two chunks).
 *
 * readFrameParts() / readFrames() are the pull side for receivers that want
 * a whole frame at a time: its payload as the pieces it arrived in (the
 * server's upload hashes and writes them without a copy), or in one buffer.
 */
import { AppError } from '../platform/errors.js';
import { FRAME_HEADER } from './frames.js';

export interface FrameSink {
  start(id: string, flags: number, length: number): void;
  data(piece: Buffer): void;
  end(): void;
}

export class FrameParser {
  private header = Buffer.allocUnsafe(FRAME_HEADER);
  private headerFill = 0;
  /** Payload bytes still expected for the current frame; -1 between frames. */
  private left = -1;

  constructor(
    private sink: FrameSink,
    private maxPayload: number,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.left < 0) {
        const n = Math.min(FRAME_HEADER - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < FRAME_HEADER) return;
        this.headerFill = 0;
        const len = this.header.readUInt32BE(33);
        if (len > this.maxPayload)
          throw new AppError('too_large', `blob frame of ${len} bytes exceeds ${this.maxPayload}`);
        this.left = len;
        this.sink.start(this.header.toString('hex', 0, 32), this.header[32], len);
        if (len === 0) this.close();
        continue;
      }
      const n = Math.min(this.left, chunk.length - off);
      this.left -= n;
      this.sink.data(n === chunk.length ? chunk : chunk.subarray(off, off + n));
      off += n;
      if (this.left === 0) this.close();
    }
  }

  private close(): void {
    this.left = -1;
    this.sink.end();
  }

  /** Call when the stream ended: throws if it ended inside a frame. */
  finish(): void {
    if (this.left >= 0 || this.headerFill > 0) throw new AppError('bad_request', 'blob stream ended inside a frame');
  }
}

export interface FrameParts {
  id: string;
  flags: number;
  /** The payload as it arrived, in one or more slices of the stream's chunks. */
  parts: Buffer[];
  length: number;
}

export interface Frame {
  id: string;
  flags: number;
  payload: Buffer;
}

/** Reads whole frames from a byte stream, each payload as the slices it arrived in. Throws too_large / bad_request on bad framing. */
export async function* readFrameParts(
  source: AsyncIterable<Buffer | Uint8Array>,
  maxPayload: number,
): AsyncGenerator<FrameParts> {
  const done: FrameParts[] = [];
  let cur: FrameParts | null = null;
  const parser = new FrameParser(
    {
      start: (id, flags, length) => void (cur = { id, flags, parts: [], length }),
      data: (piece) => void cur!.parts.push(piece),
      end: () => void done.push(cur!),
    },
    maxPayload,
  );
  for await (const chunk of source) {
    parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    for (const f of done.splice(0)) yield f;
  }
  parser.finish();
}

/** Reads frames from a byte stream, each payload in one buffer. */
export async function* readFrames(
  source: AsyncIterable<Buffer | Uint8Array>,
  maxPayload: number,
): AsyncGenerator<Frame> {
  for await (const f of readFrameParts(source, maxPayload)) {
    yield { id: f.id, flags: f.flags, payload: f.parts.length === 1 ? f.parts[0] : Buffer.concat(f.parts, f.length) };
  }
}
