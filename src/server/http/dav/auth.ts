/**
 * dav/auth — who is asking, for every WebDAV request.
 *
 * HTTP Basic (RFC 7617): user "admin" with the admin password (sees every
 * laptop), or a laptop's serial with its 6-digit restore PIN (web-auth.ts;
 * sees its own account). Failures count in the sign-in page's rate limiter
 * (per IP and per serial); past its limit the answer is 429 without checking
 * the secret. A request without credentials is not a failure: clients first
 * ask without, and send them after the 401 challenge.
 *
 * The limits are accounts/limits.ts's (per address and per account: a
 * guesser is slowed, the owner elsewhere is not).
 *
 * Basic sends the secret in clear text, so plain HTTP is refused (403)
 * unless the server runs with --dav-allow-http (a LAN without TLS). A
 * request counts as https when the connection is TLS, or when it comes from
 * this host (a local reverse proxy ending TLS) with X-Forwarded-Proto: https.
 *
 * A successful admin check is remembered for a minute (scrypt costs tens of
 * milliseconds and DAV clients send the password on every request).
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { canonicalSerial } from '../../../protocol/names.js';
import { retryAfterSec } from '../../accounts/limits.js';
import type { Store } from '../../store/store.js';
import type { Viewer } from './tree.js';

export const REALM = 'ds-backup';
const ADMIN_CACHE_MS = 60_000;

export type AuthResult =
  { ok: true; viewer: Viewer } | { ok: false; status: 401 | 403 | 429; message: string; retryAfterSec?: number };

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export function isSecure(req: FastifyRequest): boolean {
  if (req.protocol === 'https') return true;
  return LOOPBACK.has(req.socket.remoteAddress ?? '') && req.headers['x-forwarded-proto'] === 'https';
}

/** user and password of a Basic Authorization header, or null. */
export function basicCredentials(header: string | undefined): { user: string; pass: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

export class DavAuth {
  private adminOk = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly allowHttp: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  check(req: FastifyRequest): AuthResult {
    if (!this.allowHttp && !isSecure(req))
      return {
        ok: false,
        status: 403,
        message: 'WebDAV needs https (or start the server with --dav-allow-http on a trusted network)',
      };
    const cred = basicCredentials(req.headers.authorization);
    if (!cred || cred.user.length > 64 || cred.pass.length > 1000)
      return { ok: false, status: 401, message: 'sign in with your serial number and restore PIN' };
    const isAdmin = cred.user.toLowerCase() === 'admin';
    const serial = canonicalSerial(cred.user) ?? '';
    let viewer: Viewer | null = null;
    const r = this.store.webAuth.limiter.attempt(req.ip, isAdmin ? 'admin' : serial, () => {
      viewer = isAdmin ? this.admin(cred.pass) : this.student(serial, cred.pass);
      return viewer !== null;
    });
    if (r.result === 'limited')
      return {
        ok: false,
        status: 429,
        message: 'too many failed sign-ins; try again later',
        retryAfterSec: retryAfterSec(r.verdict.retryAfterMs),
      };
    if (!viewer) {
      req.log.warn({ user: cred.user, ip: req.ip }, 'webdav sign-in failed');
      return { ok: false, status: 401, message: 'wrong serial number or restore PIN' };
    }
    return { ok: true, viewer };
  }

  private admin(pass: string): Viewer | null {
    const key = createHash('sha256').update(pass).digest('hex');
    const t = this.now();
    if ((this.adminOk.get(key) ?? 0) > t) return { kind: 'admin' };
    if (!this.store.admin.checkPassword(pass)) return null;
    if (this.adminOk.size > 100) this.adminOk.clear();
    this.adminOk.set(key, t + ADMIN_CACHE_MS);
    return { kind: 'admin' };
  }

  private student(serial: string, pin: string): Viewer | null {
    const dev = serial ? this.store.registry.bySerial(serial) : undefined;
    if (!dev || dev.disabled || !this.store.restoreCodes.check(serial, pin)) return null;
    return { kind: 'student', serial: dev.serial, accountId: dev.account_id };
  }
}
