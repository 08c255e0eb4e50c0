/**
 * web-auth — who is using the web pages: sessions and one-time sign-in
 * links (rows in the catalog: catalog/web-sessions.ts).
 *
 *  - A session id is 32 random bytes (base64url) in an HttpOnly cookie; the
 *    catalog keeps only its hash (accounts/tokens.ts). Each session has its
 *    own CSRF token (synchronizer token), compared in constant time.
 *    Sessions expire after SESSION_MS; signing out deletes the row.
 *  - A one-time link token is 32 random bytes; only its hash is stored; it
 *    lives LINK_MS and is consumed atomically.
 * Restore codes and replaced-laptop approvals live in files
 * (accounts/restore-codes.ts, accounts/replacements.ts), not here.
 */
import type { Catalog } from '../../catalog/catalog.js';
import {
  consumeLink,
  peekLink,
  deleteSession,
  insertLink,
  insertSession,
  sessionByHash,
} from '../../catalog/web-sessions.js';
import { hashToken, newSecret } from '../../accounts/tokens.js';
import { SecretLimiter } from '../../accounts/limits.js';

export const SESSION_MS = 8 * 3600_000;
export const LINK_MS = 5 * 60_000;

export interface Session {
  kind: 'student' | 'admin' | 'anon';
  accountId: number | null;
  serial: string | null;
  csrf: string;
  expiresAt: number;
}

export class WebAuth {
  /** Failed secret checks per address and per account (accounts/limits.ts). */
  readonly limiter: SecretLimiter;

  constructor(
    private readonly db: Catalog,
    private readonly now: () => number = Date.now,
  ) {
    this.limiter = new SecretLimiter(now);
  }

  createSession(
    kind: Session['kind'],
    accountId: number | null,
    serial: string | null,
  ): { id: string; session: Session } {
    const id = newSecret();
    const t = this.now();
    const session: Session = { kind, accountId, serial, csrf: newSecret(24), expiresAt: t + SESSION_MS };
    insertSession(this.db, {
      id_hash: hashToken(id),
      kind,
      account_id: accountId,
      serial,
      csrf: session.csrf,
      created_at: t,
      expires_at: session.expiresAt,
    });
    return { id, session };
  }

  session(id: string | undefined): Session | null {
    if (!id || id.length > 100) return null;
    const r = sessionByHash(this.db, hashToken(id));
    if (!r || r.expires_at < this.now()) return null;
    return { kind: r.kind, accountId: r.account_id, serial: r.serial, csrf: r.csrf, expiresAt: r.expires_at };
  }

  endSession(id: string | undefined): void {
    if (id) deleteSession(this.db, hashToken(id));
  }

  /** A one-time sign-in token for a device (only its hash is kept). */
  createLink(serial: string): { token: string; expiresAt: number } {
    const token = newSecret();
    const expiresAt = this.now() + LINK_MS;
    insertLink(this.db, hashToken(token), serial, expiresAt, this.now());
    return { token, expiresAt };
  }

  /** The serial of a live, unused link token (not consumed), or null. */
  peekLink(token: string): string | null {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    return peekLink(this.db, hashToken(token), this.now());
  }

  /** Consumes a link token; returns its serial, or null when unknown, used or expired. */
  consumeLink(token: string): string | null {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    return consumeLink(this.db, hashToken(token), this.now());
  }
}
