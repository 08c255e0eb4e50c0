/**
 * snapshots — the catalog's snapshot rows: one per snapshot folder
 * (users/<SN>/<name>/snapshot.json); inserted by snapshot-index.ts, read
 * here, removed by forgetSnapshots() after the folders are gone.
 */
import type { Catalog, SnapshotRow } from './catalog.js';
import { sql } from './statements.js';
import { canonicalSerial } from '../../protocol/names.js';

export function allSnapshots(db: Catalog): SnapshotRow[] {
  return sql<[], SnapshotRow>(db, 'SELECT * FROM snapshots').all();
}

/** An account's snapshots, oldest first (ties by id). */
export function accountSnapshots(db: Catalog, accountId: number): SnapshotRow[] {
  return sql<[number], SnapshotRow>(db, 'SELECT * FROM snapshots WHERE account_id = ? ORDER BY created_at, id').all(
    accountId,
  );
}

/** One snapshot of an account, or undefined (also when it belongs to another account). */
export function accountSnapshot(db: Catalog, accountId: number, serial: string, name: string): SnapshotRow | undefined {
  const sn = canonicalSerial(serial);
  if (!sn) return undefined;
  return sql<[string, string, number], SnapshotRow>(
    db,
    'SELECT * FROM snapshots WHERE serial = ? AND name = ? AND account_id = ?',
  ).get(sn, name, accountId);
}

export function snapshotNames(db: Catalog): Set<string> {
  return new Set(sql<[], string>(db, "SELECT serial || '/' || name FROM snapshots").pluck().all());
}

export function snapshotCount(db: Catalog, accountId: number): number {
  return sql<[number], number>(db, 'SELECT count(*) FROM snapshots WHERE account_id = ?').pluck().get(accountId)!;
}

export function snapshotCountBySerial(db: Catalog): Map<string, number> {
  const rows = sql<[], { serial: string; n: number }>(
    db,
    'SELECT serial, count(*) AS n FROM snapshots GROUP BY serial',
  ).all();
  return new Map(rows.map((r) => [r.serial, r.n]));
}

/** Journal snapshots' time, account and size, oldest first (dashboard chart). */
export function datastoreSizes(db: Catalog): Array<{ account_id: number; created_at: number; bytes: number }> {
  return sql<[], { account_id: number; created_at: number; bytes: number }>(
    db,
    "SELECT account_id, created_at, bytes FROM snapshots WHERE source = 'datastore' ORDER BY created_at",
  ).all();
}

export function snapshotRoots(db: Catalog, accountId: number): Array<{ id: number; root: string }> {
  return sql<[number], { id: number; root: string }>(db, 'SELECT id, root FROM snapshots WHERE account_id = ?').all(
    accountId,
  );
}

export function snapshotOwners(db: Catalog): Array<{ id: number; account_id: number }> {
  return sql<[], { id: number; account_id: number }>(db, 'SELECT id, account_id FROM snapshots').all();
}

/** The serial of an account's newest snapshot ('' when none). */
export function latestSerial(db: Catalog, accountId: number): string {
  return (
    sql<[number], string>(db, 'SELECT serial FROM snapshots WHERE account_id = ? ORDER BY created_at DESC LIMIT 1')
      .pluck()
      .get(accountId) ?? ''
  );
}

/** Accounts with a snapshot made at or after `since`. */
export function accountsBackedUpSince(db: Catalog, since: number): number[] {
  return sql<[number], number>(db, 'SELECT DISTINCT account_id FROM snapshots WHERE created_at >= ?')
    .pluck()
    .all(since);
}

/** Newest Journal snapshot time of the account a serial belongs to (0 when none). */
export function newestJournalAt(db: Catalog, serial: string): number {
  return (
    sql<[string], number | null>(
      db,
      `SELECT max(s.created_at) FROM snapshots s JOIN devices d ON d.account_id = s.account_id
       WHERE d.serial = ? AND s.source = 'datastore'`,
    )
      .pluck()
      .get(serial) ?? 0
  );
}

/**
 * Removes snapshot rows and the entry versions no remaining snapshot of
 * their account and source holds, in one transaction.
 */
export function forgetSnapshots(db: Catalog, rows: SnapshotRow[]): void {
  const del = sql(db, 'DELETE FROM snapshots WHERE id = ?');
  const dead = sql(
    db,
    `DELETE FROM entries WHERE account_id = ? AND source = ? AND NOT EXISTS (SELECT 1 FROM snapshots s
      WHERE s.account_id = entries.account_id AND s.source = entries.source AND s.seq >= entries.first_seq
        AND (entries.last_seq IS NULL OR s.seq <= entries.last_seq))`,
  );
  db.transaction(() => {
    for (const r of rows) del.run(r.id);
    for (const k of new Set(rows.map((r) => `${r.account_id}\t${r.source}`))) {
      const [a, s] = k.split('\t');
      dead.run(Number(a), s);
    }
  })();
}
