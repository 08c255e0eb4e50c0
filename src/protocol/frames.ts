/**
 * frames — the binary framing of blob streams (upload batches, restore fetches).
 *
 * A stream is a sequence of frames: 32 bytes raw SHA-256 of the blob, 1 byte
 * flags (bit 0: payload is raw-deflate compressed), 4 bytes big-endian payload
 * length, then the payload. Many small blobs travel in one HTTP request this
 * way. Readers (frame-parser.ts) enforce a payload limit before buffering
 * anything, so a hostile length cannot make the receiver allocate.
 */

export const FRAME_HEADER = 37;
export const FLAG_DEFLATE = 1;

export function frameHeader(id: string, flags: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.write(id, 0, 32, 'hex');
  h[32] = flags;
  h.writeUInt32BE(length, 33);
  return h;
}
