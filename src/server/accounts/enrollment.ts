/**
 * enrollment — the school's enrollment key (config `enrollmentKey`; '' = off,
 * every laptop on the LAN may register, as in 2008).
 *
 * When set, POST /api/v1/devices registers a laptop only if the request
 * carries the key in X-Enrollment-Key (the install script passes
 * $DSB_ENROLL_KEY, `ds-backup register --enroll-key`), compared in constant
 * time — or presents that laptop's own valid token (re-registration: it
 * joined already). Sugar's XML-RPC registration (the 2008 path) cannot send a
 * key and is not affected. Wrong keys count as failures of account 'enroll'
 * (limits.ts): the guessing address is slowed, laptops elsewhere still join.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import { bearer } from './auth.js';
import type { Registry } from './registry.js';
import { rateLimited, type SecretLimiter } from './limits.js';

export const ENROLLMENT_HEADER = 'x-enrollment-key';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Same text? Hashing first makes the comparison constant-time whatever the lengths. */
export function sameKey(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Throws 403 forbidden unless registering `serial` is allowed by the key setting. */
export function checkEnrollment(
  key: string,
  registry: Registry,
  req: FastifyRequest,
  serial: string,
  limiter: SecretLimiter,
): void {
  if (!key) return;
  const token = bearer(req);
  if (token && registry.authenticate(token)?.serial === serial) return;
  const given = req.headers[ENROLLMENT_HEADER];
  if (typeof given !== 'string' || !given)
    throw new AppError(
      'forbidden',
      "this school server registers new laptops only with the school's enrollment key: ask the school's IT person for it, then run ds-backup register --enroll-key KEY (install line: … | DSB_ENROLL_KEY=KEY sh)",
      { details: { enrollmentKey: 'required' } },
    );
  const r = limiter.attempt(req.ip, 'enroll', () => sameKey(given, key));
  if (r.result === 'limited') throw rateLimited(r.verdict, 'wrong enrollment keys');
  if (r.result === 'wrong')
    throw new AppError('forbidden', "wrong enrollment key; ask the school's IT person for the right one", {
      details: { enrollmentKey: 'wrong' },
    });
}
