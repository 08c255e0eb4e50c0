/**
 * hash — blob identity. A blob is named by the lowercase hex SHA-256 of its
 * bytes. Everything that names a blob from outside goes through isBlobId.
 */
import { createHash } from 'node:crypto';

export const BLOB_ID_RE = /^[0-9a-f]{64}$/;

export function isBlobId(s: unknown): s is string {
  return typeof s === 'string' && BLOB_ID_RE.test(s);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
