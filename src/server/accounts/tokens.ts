/**
 * tokens — the one hasher and comparer for secrets the server hands out.
 *
 * Device tokens, admin API tokens, web session ids and one-time sign-in link
 * tokens are 32 random bytes; the server keeps only hashToken() of them
 * (sha256, hex: a random 256-bit secret needs no salt or stretching) and
 * compares with safeEqual(), which takes the same time whatever matches.
 * Passwords are not tokens: admin.ts stretches the admin password with scrypt.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new random secret (32 bytes, base64url) unless told otherwise. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Constant-time equality of two strings (false when either is empty). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Lengths are not secret here (hashes and codes have fixed lengths).
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
