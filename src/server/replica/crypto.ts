/**
 * crypto — what the replica's storage provider sees: opaque names and
 * AES-256-GCM ciphertext (node:crypto), nothing else. K is the replica key
 * (256 bits, 64 hex digits).
 *
 * Content objects (pool blobs and trees, content-addressed by sha256 id) are
 * named and encrypted convergently, so that servers holding the same K and
 * bucket (a district) store a shared file once, and only holders of K can
 * tell two schools hold the same file:
 *   name  = hex HMAC-SHA256(K, "name|"  + kind + "|" + id)
 *   key   =     HMAC-SHA256(K, "data|"  + kind + "|" + id)          (32 bytes)
 *   nonce =     HMAC-SHA256(K, "nonce|" + kind + "|" + id)[0..12)
 *   body  = "DSR1" ‖ AES-256-GCM(key, nonce, aad = name)(plain) ‖ tag(16)
 * A (key, nonce) pair only ever encrypts the one plaintext whose sha256 is
 * id, so the derived nonce is never reused with different data; decrypting
 * checks the tag, then re-hashing the plaintext checks the id.
 *
 * Records (snapshot records, device/account files, pins, restore codes…) are
 * named by their path and encrypted with a random nonce under one record key:
 *   name  = hex HMAC-SHA256(K, "record|" + path)
 *   key   =     HMAC-SHA256(K, "records")
 *   body  = "DSR1" ‖ nonce(12) ‖ AES-256-GCM(key, nonce, aad = name)(u16 len ‖ path ‖ bytes) ‖ tag(16)
 * so the path travels inside the ciphertext (a rebuild lists, decrypts and
 * learns it) and a record moved to another name fails its tag.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { AppError } from '../../platform/errors.js';

const MAGIC = Buffer.from('DSR1');
const TAG = 16;
const NONCE = 12;
export type ContentKind = 'blob' | 'tree';

export function parseKey(hex: string, from: string): Buffer {
  const t = hex.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(t)) throw new AppError('bad_request', `${from}: the replica key must be 64 hex digits`);
  return Buffer.from(t, 'hex');
}

const mac = (k: Buffer, text: string): Buffer => createHmac('sha256', k).update(text).digest();

export class ReplicaCipher {
  private readonly recordKey: Buffer;
  constructor(private readonly k: Buffer) {
    this.recordKey = mac(k, 'records');
  }

  /** A short public tag of the key (for state files; reveals nothing of K). */
  keyTag(): string {
    return mac(this.k, 'tag').toString('hex').slice(0, 12);
  }

  contentName(kind: ContentKind, id: string): string {
    return mac(this.k, `name|${kind}|${id}`).toString('hex');
  }

  recordName(path: string): string {
    return mac(this.k, `record|${path}`).toString('hex');
  }

  sealContent(kind: ContentKind, id: string, plain: Buffer): Buffer {
    const name = this.contentName(kind, id);
    const c = createCipheriv('aes-256-gcm', mac(this.k, `data|${kind}|${id}`), this.nonceOf(kind, id));
    c.setAAD(Buffer.from(name));
    const body = Buffer.concat([MAGIC, c.update(plain), c.final(), c.getAuthTag()]);
    return body;
  }

  /** Decrypts and checks a content object: its plaintext hashes to id. */
  openContent(kind: ContentKind, id: string, body: Buffer): Buffer {
    const name = this.contentName(kind, id);
    const plain = this.open(mac(this.k, `data|${kind}|${id}`), this.nonceOf(kind, id), name, body, MAGIC.length);
    if (createHash('sha256').update(plain).digest('hex') !== id)
      throw new AppError('hash_mismatch', `replica object for ${kind} ${id} does not hash to its id`);
    return plain;
  }

  sealRecord(path: string, data: Buffer): Buffer {
    const name = this.recordName(path);
    const nonce = randomBytes(NONCE);
    const p = Buffer.from(path);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(p.length);
    const c = createCipheriv('aes-256-gcm', this.recordKey, nonce);
    c.setAAD(Buffer.from(name));
    return Buffer.concat([MAGIC, nonce, c.update(Buffer.concat([len, p, data])), c.final(), c.getAuthTag()]);
  }

  /** Decrypts a record listed under `name`: its path and bytes. */
  openRecord(name: string, body: Buffer): { path: string; data: Buffer } {
    const nonce = body.subarray(MAGIC.length, MAGIC.length + NONCE);
    const plain = this.open(this.recordKey, nonce, name, body, MAGIC.length + NONCE);
    const n = plain.readUInt16BE(0);
    const path = plain.subarray(2, 2 + n).toString('utf8');
    if (this.recordName(path) !== name)
      throw new AppError('hash_mismatch', `replica record ${name} names another path`);
    return { path, data: plain.subarray(2 + n) };
  }

  private nonceOf(kind: ContentKind, id: string): Buffer {
    return mac(this.k, `nonce|${kind}|${id}`).subarray(0, NONCE);
  }

  private open(key: Buffer, nonce: Buffer, name: string, body: Buffer, start: number): Buffer {
    if (body.length < start + TAG || !body.subarray(0, MAGIC.length).equals(MAGIC))
      throw new AppError('hash_mismatch', `replica object ${name} is not a ds-backup replica object`);
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(Buffer.from(name));
    d.setAuthTag(body.subarray(body.length - TAG));
    try {
      return Buffer.concat([d.update(body.subarray(start, body.length - TAG)), d.final()]);
    } catch {
      throw new AppError('hash_mismatch', `replica object ${name} fails its authentication (wrong key or damaged)`);
    }
  }
}
