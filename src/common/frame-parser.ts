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
 */
import { AppError } from './errors.js';
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

  constructor(private sink: FrameSink, private maxPayload: number) {}

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
        if (len > this.maxPayload) throw new AppError('too_large', `blob frame of ${len} bytes exceeds ${this.maxPayload}`);
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
