/**
 * unzip — a minimal zip reader for tests (no dependency): reads the central
 * directory, then each member's bytes (stored or deflated), checking sizes
 * and CRC-32. Enough for the small archives yazl writes (no zip64).
 */
import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipMember {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  data: Buffer;
}

function findEocd(buf: Buffer): number {
  for (let p = buf.length - 22; p >= 0; p--) if (buf.readUInt32LE(p) === 0x06054b50) return p;
  throw new Error('zip: no end of central directory record');
}

function memberData(buf: Buffer, cd: number): Buffer {
  const method = buf.readUInt16LE(cd + 10);
  const csize = buf.readUInt32LE(cd + 20);
  const local = buf.readUInt32LE(cd + 42);
  if (buf.readUInt32LE(local) !== 0x04034b50) throw new Error('zip: bad local header');
  const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
  const raw = buf.subarray(start, start + csize);
  return method === 0 ? raw : inflateRawSync(raw);
}

/** Every member of a zip file, in central-directory order. */
export function readZip(buf: Buffer): ZipMember[] {
  const eocd = findEocd(buf);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: ZipMember[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('zip: bad central directory header');
    const nameLen = buf.readUInt16LE(p + 28);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    const data = memberData(buf, p);
    if (data.length !== buf.readUInt32LE(p + 24)) throw new Error(`zip: ${name}: wrong size`);
    if (crc32(data) !== buf.readUInt32LE(p + 16)) throw new Error(`zip: ${name}: wrong CRC`);
    out.push({ name, method: buf.readUInt16LE(p + 10), data });
    p += 46 + nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}

/** Collects a stream (e.g. a yazl ZipFile's outputStream) into one Buffer. */
export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}
