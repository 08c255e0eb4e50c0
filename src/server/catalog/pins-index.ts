/**
 * pins-index — the catalog's index of pins (the truth is each laptop's
 * users/<SN>/pins.json, retention/pins.ts): one row per pin with its JSON.
 * Rebuilt from the files by Pins.reload() (reindex calls it).
 */
import type { Catalog } from './catalog.js';
import { sql } from './statements.js';

export interface PinIndexRow {
  id: string;
  accountId: number;
  serial: string;
  kind: string;
  snapshot: string | null;
  uid: string | null;
  version: string | null;
  auto: boolean;
  createdAt: number;
  json: string;
}

/** Adds (or replaces) pins in one transaction. */
export function indexPins(db: Catalog, rows: PinIndexRow[]): void {
  const put = sql(
    db,
    `INSERT OR REPLACE INTO pins (id, account_id, serial, kind, snapshot, uid, version, auto, created_at, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const p of rows)
      put.run(p.id, p.accountId, p.serial, p.kind, p.snapshot, p.uid, p.version, p.auto ? 1 : 0, p.createdAt, p.json);
  })();
}

/** Makes the index exactly `rows`, in one transaction. */
export function replacePins(db: Catalog, rows: PinIndexRow[]): void {
  db.transaction(() => {
    sql(db, 'DELETE FROM pins').run();
    indexPins(db, rows);
  })();
}

/** The pins' JSON of one account, oldest first. */
export function accountPinJson(db: Catalog, accountId: number): string[] {
  return sql<[number], string>(db, 'SELECT json FROM pins WHERE account_id = ? ORDER BY created_at, id')
    .pluck()
    .all(accountId);
}

export function allPinJson(db: Catalog): Array<{ account_id: number; json: string }> {
  return sql<[], { account_id: number; json: string }>(db, 'SELECT account_id, json FROM pins').all();
}

export function pinnedSnapshotNames(db: Catalog): Set<string> {
  return new Set(
    sql<[], string>(db, "SELECT serial || '/' || snapshot FROM pins WHERE kind = 'snapshot'").pluck().all(),
  );
}

export function pinOf(db: Catalog, accountId: number, id: string): { serial: string; json: string } | undefined {
  return sql<[string, number], { serial: string; json: string }>(
    db,
    'SELECT serial, json FROM pins WHERE id = ? AND account_id = ?',
  ).get(id, accountId);
}

export function deletePin(db: Catalog, id: string): void {
  sql(db, 'DELETE FROM pins WHERE id = ?').run(id);
}
