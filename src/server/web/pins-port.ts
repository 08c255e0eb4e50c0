/**
 * pins-port — what the web pages need from pins: "keep this document / this
 * backup date, whatever the cleanup decides".
 *
 * The retention issue owns the real pins. Until it is merged the pages use
 * TablePins, a minimal implementation on its own table `web_pins` (account,
 * kind, ref). Wiring to the real pins is one adapter implementing PinsPort,
 * passed to webRoutes() instead of TablePins.
 *  - kind 'entry': ref is the Journal entry uid (every version is kept);
 *  - kind 'snapshot': ref is `<serial>/<snapshot name>`.
 */
import type { Catalog } from '../catalog.js';

export type PinKind = 'entry' | 'snapshot';

export interface PinsPort {
  pin(accountId: number, kind: PinKind, ref: string): void;
  unpin(accountId: number, kind: PinKind, ref: string): void;
  isPinned(accountId: number, kind: PinKind, ref: string): boolean;
  /** Every pinned ref of one kind for the account (one query per page). */
  pinned(accountId: number, kind: PinKind): Set<string>;
}

export class TablePins implements PinsPort {
  constructor(private readonly db: Catalog) {
    db.exec(`CREATE TABLE IF NOT EXISTS web_pins (
      account_id INTEGER NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, created_at INTEGER NOT NULL,
      PRIMARY KEY (account_id, kind, ref)) WITHOUT ROWID`);
  }

  pin(accountId: number, kind: PinKind, ref: string): void {
    this.db.prepare('INSERT OR IGNORE INTO web_pins VALUES (?, ?, ?, ?)').run(accountId, kind, ref, Date.now());
  }

  unpin(accountId: number, kind: PinKind, ref: string): void {
    this.db.prepare('DELETE FROM web_pins WHERE account_id = ? AND kind = ? AND ref = ?').run(accountId, kind, ref);
  }

  isPinned(accountId: number, kind: PinKind, ref: string): boolean {
    return this.db.prepare('SELECT 1 FROM web_pins WHERE account_id = ? AND kind = ? AND ref = ?').get(accountId, kind, ref) !== undefined;
  }

  pinned(accountId: number, kind: PinKind): Set<string> {
    const rows = this.db.prepare('SELECT ref FROM web_pins WHERE account_id = ? AND kind = ?').all(accountId, kind) as Array<{ ref: string }>;
    return new Set(rows.map((r) => r.ref));
  }
}
