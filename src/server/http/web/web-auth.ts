/**
 * web-auth — who is using the web pages: sessions, one-time sign-in links,
 * restore PINs and replaced-laptop approvals, kept in the catalog database
 * (tables created here, IF NOT EXISTS).
 *
 *  - A session id is 32 random bytes (base64url) in an HttpOnly cookie; the
 *    table keeps only its sha256. Each session has its own CSRF token
 *    (synchronizer token), compared in constant time. Sessions expire after
 *    SESSION_MS; signing out deletes the row.
 *  - A one-time link token is 32 random bytes; only its sha256 is stored; it
 *    lives LINK_MS and is consumed atomically (UPDATE … WHERE used = 0).
 *  - A restore PIN is 6 digits per device, for signing in away from the
 *    laptop. It is stored as is: a 6-digit secret cannot be protected by a
 *    hash, so it is protected by the login rate limit instead. The laptop
 *    reads it with its token (GET /api/v1/pin); the admin resets it.
 *  - A replacement approval lets a new serial register into an old
 *    laptop's account (ds-backup register --replaces OLD) without the PIN.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Catalog } from '../../catalog/catalog.js';
import { LoginLimiter } from './rate-limit.js';

export const SESSION_MS = 8 * 3600_000;
export const LINK_MS = 5 * 60_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS web_sessions (
  id_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, account_id INTEGER, serial TEXT,
  csrf TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS web_links (
  hash TEXT PRIMARY KEY, serial TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS restore_pins (serial TEXT PRIMARY KEY, pin TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replacement_approvals (
  new_serial TEXT PRIMARY KEY, old_serial TEXT NOT NULL, created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_latest ON entries(account_id, source, uid, first_seq);
`;

export interface Session {
  kind: 'student' | 'admin' | 'anon';
  accountId: number | null;
  serial: string | null;
  csrf: string;
  expiresAt: number;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export function safeEqualText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export class WebAuth {
  /** Failed sign-ins and PIN checks, per IP and per serial. */
  readonly limiter: LoginLimiter;

  constructor(
    private readonly db: Catalog,
    private readonly now: () => number = Date.now,
  ) {
    db.exec(SCHEMA);
    this.limiter = new LoginLimiter(now);
  }

  createSession(
    kind: Session['kind'],
    accountId: number | null,
    serial: string | null,
  ): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = {
      kind,
      accountId,
      serial,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: t + SESSION_MS,
    };
    this.db.prepare('DELETE FROM web_sessions WHERE expires_at < ?').run(t);
    this.db
      .prepare('INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(sha(id), kind, accountId, serial, session.csrf, t, session.expiresAt);
    return { id, session };
  }

  session(id: string | undefined): Session | null {
    if (!id || id.length > 100) return null;
    const r = this.db.prepare('SELECT * FROM web_sessions WHERE id_hash = ?').get(sha(id)) as
      | { kind: Session['kind']; account_id: number | null; serial: string | null; csrf: string; expires_at: number }
      | undefined;
    if (!r || r.expires_at < this.now()) return null;
    return { kind: r.kind, accountId: r.account_id, serial: r.serial, csrf: r.csrf, expiresAt: r.expires_at };
  }

  endSession(id: string | undefined): void {
    if (id) this.db.prepare('DELETE FROM web_sessions WHERE id_hash = ?').run(sha(id));
  }

  /** A one-time sign-in token for a device (only its hash is kept). */
  createLink(serial: string): { token: string; expiresAt: number } {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + LINK_MS;
    this.db.prepare('DELETE FROM web_links WHERE expires_at < ?').run(this.now());
    this.db
      .prepare('INSERT INTO web_links (hash, serial, expires_at) VALUES (?, ?, ?)')
      .run(sha(token), serial, expiresAt);
    return { token, expiresAt };
  }

  /** Consumes a link token; returns its serial, or null when unknown, used or expired. */
  consumeLink(token: string): string | null {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    const h = sha(token);
    const r = this.db
      .prepare('UPDATE web_links SET used = 1 WHERE hash = ? AND used = 0 AND expires_at >= ?')
      .run(h, this.now());
    if (r.changes !== 1) return null;
    return (this.db.prepare('SELECT serial FROM web_links WHERE hash = ?').get(h) as { serial: string }).serial;
  }

  /** The device's restore PIN, created on first use. */
  pin(serial: string): string {
    const r = this.db.prepare('SELECT pin FROM restore_pins WHERE serial = ?').get(serial) as
      { pin: string } | undefined;
    return r ? r.pin : this.resetPin(serial);
  }

  resetPin(serial: string): string {
    const pin = String(randomInt(0, 1_000_000)).padStart(6, '0');
    this.db
      .prepare(
        'INSERT INTO restore_pins VALUES (?, ?, ?) ON CONFLICT(serial) DO UPDATE SET pin = excluded.pin, updated_at = excluded.updated_at',
      )
      .run(serial, pin, this.now());
    return pin;
  }

  checkPin(serial: string, pin: string): boolean {
    const r = this.db.prepare('SELECT pin FROM restore_pins WHERE serial = ?').get(serial) as
      { pin: string } | undefined;
    return Boolean(r) && safeEqualText(r!.pin, pin.trim());
  }

  approveReplacement(newSerial: string, oldSerial: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO replacement_approvals VALUES (?, ?, ?)')
      .run(newSerial, oldSerial, this.now());
  }

  /** True (and the approval used up) when the admin approved newSerial replacing oldSerial. */
  takeApproval(newSerial: string, oldSerial: string): boolean {
    return (
      this.db
        .prepare('DELETE FROM replacement_approvals WHERE new_serial = ? AND old_serial = ?')
        .run(newSerial, oldSerial).changes === 1
    );
  }

  forgetDevice(serial: string): void {
    this.db.prepare('DELETE FROM restore_pins WHERE serial = ?').run(serial);
    this.db.prepare('DELETE FROM web_links WHERE serial = ?').run(serial);
    this.db.prepare('DELETE FROM web_sessions WHERE serial = ?').run(serial);
  }
}
