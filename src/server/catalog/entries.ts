/**
 * entries — Journal entry versions (one row per version with the span of
 * snapshot sequence numbers that held it; written by snapshot-index.ts).
 * The paged Journal questions of the web pages are in journal-query.ts.
 */
import type { Catalog, EntryRow, SnapshotRow } from './catalog.js';
import { sql } from './statements.js';

/** Every entry version present in one snapshot, newest first. */
export function entriesAtSnapshot(db: Catalog, snap: SnapshotRow): EntryRow[] {
  return sql<[number, string, number, number], EntryRow>(
    db,
    'SELECT * FROM entries WHERE account_id = ? AND source = ? AND first_seq <= ? AND (last_seq IS NULL OR last_seq >= ?) ORDER BY timestamp DESC, uid',
  ).all(snap.account_id, snap.source, snap.seq, snap.seq);
}

export function accountEntries(db: Catalog, accountId: number): EntryRow[] {
  return sql<[number], EntryRow>(db, 'SELECT * FROM entries WHERE account_id = ?').all(accountId);
}

export function entryCount(db: Catalog): number {
  return sql<[], number>(db, 'SELECT count(*) FROM entries').pluck().get()!;
}

/** Every Journal version of one entry of an account, newest first. */
export function journalVersions(db: Catalog, accountId: number, uid: string): EntryRow[] {
  return sql<[number, string], EntryRow>(
    db,
    "SELECT * FROM entries WHERE account_id = ? AND uid = ? AND source = 'datastore' ORDER BY first_seq DESC",
  ).all(accountId, uid);
}

/** The newest snapshot of the account that still holds an entry version. */
export function newestSnapshotHolding(db: Catalog, accountId: number, row: EntryRow): SnapshotRow | undefined {
  return sql<[number, string, number, number | null, number | null], SnapshotRow>(
    db,
    'SELECT * FROM snapshots WHERE account_id = ? AND source = ? AND seq >= ? AND (? IS NULL OR seq <= ?) ORDER BY seq DESC LIMIT 1',
  ).get(accountId, row.source, row.first_seq, row.last_seq, row.last_seq);
}

/** The newest version of every Journal entry of every account (with its starred flag). */
export function newestJournalVersions(
  db: Catalog,
): IterableIterator<{ account_id: number; uid: string; version: string; keep: number }> {
  return sql<[], { account_id: number; uid: string; version: string; keep: number }>(
    db,
    `SELECT e.account_id, e.uid, e.version, e.keep FROM entries e JOIN (SELECT account_id, uid, max(first_seq) AS s
       FROM entries WHERE source = 'datastore' GROUP BY account_id, uid) m
     ON e.account_id = m.account_id AND e.uid = m.uid AND e.first_seq = m.s WHERE e.source = 'datastore'`,
  ).iterate();
}

export function journalVersion(db: Catalog, accountId: number, uid: string, version: string): EntryRow | undefined {
  return sql<[number, string, string], EntryRow>(
    db,
    "SELECT * FROM entries WHERE account_id = ? AND uid = ? AND version = ? AND source = 'datastore' ORDER BY first_seq DESC LIMIT 1",
  ).get(accountId, uid, version);
}
