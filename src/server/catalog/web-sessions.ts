/**
 * web-sessions — the catalog's rows for web sign-ins: sessions (by the hash
 * of their id) and one-time sign-in links (by the hash of their token).
 * Both are short-lived and not rebuilt by reindex: a lost catalog signs
 * everyone out and voids unused links, nothing more.
 */
import type { Catalog } from './catalog.js';
import { sql } from './statements.js';

export interface SessionRow {
  id_hash: string;
  kind: 'student' | 'admin' | 'anon';
  account_id: number | null;
  serial: string | null;
  csrf: string;
  created_at: number;
  expires_at: number;
}

export function insertSession(db: Catalog, r: SessionRow): void {
  sql(db, 'DELETE FROM web_sessions WHERE expires_at < ?').run(r.created_at);
  sql(
    db,
    `INSERT INTO web_sessions (id_hash, kind, account_id, serial, csrf, created_at, expires_at)
     VALUES (@id_hash, @kind, @account_id, @serial, @csrf, @created_at, @expires_at)`,
  ).run(r);
}

export function sessionByHash(db: Catalog, idHash: string): SessionRow | undefined {
  return sql<[string], SessionRow>(db, 'SELECT * FROM web_sessions WHERE id_hash = ?').get(idHash);
}

export function deleteSession(db: Catalog, idHash: string): void {
  sql(db, 'DELETE FROM web_sessions WHERE id_hash = ?').run(idHash);
}

export function insertLink(db: Catalog, hash: string, serial: string, expiresAt: number, now: number): void {
  sql(db, 'DELETE FROM web_links WHERE expires_at < ?').run(now);
  sql(db, 'INSERT INTO web_links (hash, serial, expires_at) VALUES (?, ?, ?)').run(hash, serial, expiresAt);
}

/** The serial of a live, unused link, without using it. */
export function peekLink(db: Catalog, hash: string, now: number): string | null {
  const r = sql<[string, number], { serial: string }>(
    db,
    'SELECT serial FROM web_links WHERE hash = ? AND used = 0 AND expires_at >= ?',
  ).get(hash, now);
  return r?.serial ?? null;
}

/** Marks a live, unused link used; returns its serial, or null. Atomic (UPDATE … WHERE used = 0). */
export function consumeLink(db: Catalog, hash: string, now: number): string | null {
  const r = sql(db, 'UPDATE web_links SET used = 1 WHERE hash = ? AND used = 0 AND expires_at >= ?').run(hash, now);
  if (r.changes !== 1) return null;
  return sql<[string], { serial: string }>(db, 'SELECT serial FROM web_links WHERE hash = ?').get(hash)!.serial;
}

/** Signs a laptop out everywhere and voids its links. */
export function forgetSerial(db: Catalog, serial: string): void {
  sql(db, 'DELETE FROM web_links WHERE serial = ?').run(serial);
  sql(db, 'DELETE FROM web_sessions WHERE serial = ?').run(serial);
}
