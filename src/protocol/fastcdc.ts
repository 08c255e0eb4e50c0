/**
 * fastcdc — content-defined chunking of big files (issue #13).
 *
 * A file of at least CHUNK_THRESHOLD bytes is cut where its *content* says
 * (a rolling gear hash over the last 32 bytes), not at fixed offsets: an
 * edit or an insertion moves only the cut points around it, so every other
 * chunk keeps its id and is neither sent nor stored again. The cut points
 * are part of the format: every agent and the server's legacy ingest must
 * cut the same file the same way (the same big file on 30 laptops is stored
 * once), so GEAR, the masks and the sizes never change within a format.
 *
 * The algorithm is FastCDC (Xia et al., "FastCDC: a Fast and Efficient
 * Content-Defined Chunking Approach for Data Deduplication", USENIX ATC '16),
 * Algorithm 1 with normalized chunking (level 2), quoted:
 *
 *   Input: data buffer, src; buffer length, n
 *   Output: chunking breakpoint i
 *   MinSize ← 2KB; MaxSize ← 64KB; NormalSize ← 8KB;
 *   fp ← 0; i ← MinSize;
 *   if n ≤ MinSize then return n;
 *   if n ≥ MaxSize then n ← MaxSize;
 *   else if n ≤ NormalSize then NormalSize ← n;
 *   for ; i < NormalSize; i++ do
 *       fp = (fp << 1) + Gear[src[i]];
 *       if !(fp & MaskS) then return i;      ▷ mask with more '1' bits (harder)
 *   for ; i < n; i++ do
 *       fp = (fp << 1) + Gear[src[i]];
 *       if !(fp & MaskL) then return i;      ▷ mask with fewer '1' bits (easier)
 *   return i;
 *
 * Differences, said plainly: the fingerprint is 32 bits (JavaScript's fast
 * integer arithmetic; `(fp << 1)` drops bytes older than 32 positions, the
 * window the paper gets from its 64-bit fp with spread-out mask bits), and
 * the masks take the *top* bits of fp (they depend on the whole 32-byte
 * window). Sizes are ours (measured, see README "Big files"): min 16 KiB,
 * normal 64 KiB, max 256 KiB; MaskS has log2(64 Ki)+2 = 18 bits, MaskL 14.
 * GEAR[b] is the first 4 bytes of SHA-256("ds-backup gear <b>"): fixed,
 * reproducible, and no table to copy by hand.
 */
import { createHash } from 'node:crypto';

const KiB = 1024;
export const CDC_MIN = 16 * KiB;
export const CDC_AVG = 64 * KiB;
export const CDC_MAX = 256 * KiB;
/** Files of at least this many bytes are chunked; smaller ones stay one blob. */
export const CHUNK_THRESHOLD = 1024 * KiB;

const topBits = (n: number): number => (n >= 32 ? 0xffffffff : ((2 ** n - 1) * 2 ** (32 - n)) >>> 0);
/** Normalized chunking level 2: 2 bits harder before CDC_AVG, 2 bits easier after. */
const MASK_S = topBits(Math.log2(CDC_AVG) + 2) | 0;
const MASK_L = topBits(Math.log2(CDC_AVG) - 2) | 0;

const GEAR: Int32Array = (() => {
  const t = new Int32Array(256);
  for (let b = 0; b < 256; b++) t[b] = createHash('sha256').update(`ds-backup gear ${b}`).digest().readInt32BE(0);
  return t;
})();

/**
 * The length of the first chunk of `src[start, end)` (Algorithm 1 above).
 * `final`: no bytes follow `end` (else a result of `end - start` below
 * CDC_MAX means "need more bytes": the caller reads more and asks again).
 */
export function cutPoint(src: Uint8Array, start: number, end: number): number {
  let n = end - start;
  if (n <= CDC_MIN) return n;
  if (n > CDC_MAX) n = CDC_MAX;
  const normal = n < CDC_AVG ? n : CDC_AVG;
  const gear = GEAR;
  let fp = 0;
  let i = start + CDC_MIN;
  const mid = start + normal;
  const stop = start + n;
  for (; i < mid; i++) {
    fp = ((fp << 1) + gear[src[i]]) | 0;
    if ((fp & MASK_S) === 0) return i - start;
  }
  for (; i < stop; i++) {
    fp = ((fp << 1) + gear[src[i]]) | 0;
    if ((fp & MASK_L) === 0) return i - start;
  }
  return n;
}

/** A chunk of a file: its place and length. */
export interface Cut {
  offset: number;
  size: number;
}

/**
 * Cuts a stream of pieces (a file read in buffers of any size) into chunks;
 * calls `onChunk` with each chunk's bytes (a view valid only during the
 * call) in order. Holds at most CDC_MAX + one piece in memory.
 */
export class Chunker {
  private buf = Buffer.allocUnsafe(4 * CDC_MAX);
  private len = 0;
  private offset = 0;
  constructor(private readonly onChunk: (bytes: Buffer, cut: Cut) => void) {}

  push(piece: Uint8Array): void {
    let at = 0;
    while (at < piece.length) {
      const room = this.buf.length - this.len;
      const n = Math.min(room, piece.length - at);
      this.buf.set(piece.subarray(at, at + n), this.len);
      this.len += n;
      at += n;
      this.drain(false);
    }
  }

  end(): void {
    this.drain(true);
  }

  private drain(final: boolean): void {
    let start = 0;
    while (this.len - start >= CDC_MAX || (final && this.len > start)) {
      const size = cutPoint(this.buf, start, this.len);
      this.onChunk(this.buf.subarray(start, start + size), { offset: this.offset, size });
      this.offset += size;
      start += size;
    }
    if (start > 0) {
      this.buf.copyWithin(0, start, this.len);
      this.len -= start;
    }
  }
}

/** The cuts of a whole buffer (tests, and small callers that have the bytes). */
export function cutAll(data: Uint8Array): Cut[] {
  const out: Cut[] = [];
  const c = new Chunker((_b, cut) => out.push(cut));
  c.push(data);
  c.end();
  return out;
}
