/**
 * journal-query — the catalog questions the Journal pages ask, always
 * within one account (the caller has already authorized the account).
 *
 *  - latest: the newest version of every document the account ever backed up
 *    (still on the laptop: last_seq IS NULL; deleted since: its last version),
 *    newest first, searchable by title, filtered by activity and date, one
 *    page at a time;
 *  - atSnapshot: the documents as they were in one backup
 *    (first_seq <= seq AND (last_seq IS NULL OR last_seq >= seq));
 *  - versions: every version of one document, newest first, with the dates
 *    of the backups that held it.
 * Pages are LIMIT/OFFSET over an indexed query; a count comes with them.
 * (The WHERE clauses are built from this file's constants and the fixed
 * activity lists of web/kinds.ts, so there are few texts, each prepared once.)
 */
import type { Catalog, EntryRow, SnapshotRow } from './catalog.js';
import { sql } from './statements.js';
import { entriesAtSnapshot } from './entries.js';
import { accountSnapshot } from './snapshots.js';

export const SOURCE = 'datastore';
export const PER_PAGE = 50;

export interface Page<T> {
  rows: T[];
  total: number;
  page: number;
  pages: number;
}

export interface ListQuery {
  q?: string;
  page?: number;
  /** Only these activities (bundle ids), or with `notActivities` every other one. */
  activities?: readonly string[];
  notActivities?: boolean;
  /** Entry timestamp range, seconds: from <= timestamp < to. */
  from?: number;
  to?: number;
}

/** The extra WHERE terms and arguments of a list's filters (search, kind, date). */
function filters(q: ListQuery): { sql: string; args: unknown[] } {
  let where = '';
  const args: unknown[] = [];
  if (q.q?.trim()) {
    where += " AND e.title LIKE ? ESCAPE '\\'";
    args.push(likeTerm(q.q.trim()));
  }
  if (q.activities) {
    where += ` AND e.activity ${q.notActivities ? 'NOT IN' : 'IN'} (${q.activities.map(() => '?').join(',') || "''"})`;
    args.push(...q.activities);
  }
  if (q.from !== undefined) {
    where += ' AND e.timestamp >= ?';
    args.push(q.from);
  }
  if (q.to !== undefined) {
    where += ' AND e.timestamp < ?';
    args.push(q.to);
  }
  return { sql: where, args };
}

const LIST_COLS =
  'e.id, e.uid, e.title, e.activity, e.mime_type, e.timestamp, e.keep, e.data_blob, e.data_size, e.preview_blob, e.preview_size, e.first_seq, e.last_seq, e.layout, e.version, e.meta_ref, e.account_id, e.source, e.problems';

function likeTerm(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class JournalQuery {
  constructor(private readonly db: Catalog) {}

  snapshots(accountId: number, source = SOURCE): SnapshotRow[] {
    return sql<[number, string], SnapshotRow>(
      this.db,
      'SELECT * FROM snapshots WHERE account_id = ? AND source = ? ORDER BY seq DESC',
    ).all(accountId, source);
  }

  /** A snapshot of the account; `serial` in any case (a URL's). */
  snapshot(accountId: number, serial: string, name: string): SnapshotRow | undefined {
    return accountSnapshot(this.db, accountId, serial, name);
  }

  private page(where: string, args: unknown[], q: ListQuery): Page<EntryRow> {
    const { sql: search, args: extra } = filters(q);
    const all = [...args, ...extra];
    const total = (
      sql(this.db, `SELECT count(*) AS n FROM entries e WHERE ${where}${search}`).get(...all) as { n: number }
    ).n;
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    const page = Math.min(Math.max(1, Math.floor(q.page ?? 1)), pages);
    const rows = sql(
      this.db,
      `SELECT ${LIST_COLS} FROM entries e WHERE ${where}${search} ORDER BY e.timestamp DESC, e.uid LIMIT ? OFFSET ?`,
    ).all(...all, PER_PAGE, (page - 1) * PER_PAGE) as EntryRow[];
    return { rows, total, page, pages };
  }

  latest(accountId: number, q: ListQuery): Page<EntryRow> {
    return this.page(
      `e.account_id = ? AND e.source = ? AND NOT EXISTS (SELECT 1 FROM entries x WHERE x.account_id = e.account_id AND x.source = e.source AND x.uid = e.uid AND x.first_seq > e.first_seq)`,
      [accountId, SOURCE],
      q,
    );
  }

  atSnapshot(snap: SnapshotRow, q: ListQuery): Page<EntryRow> {
    return this.page(
      'e.account_id = ? AND e.source = ? AND e.first_seq <= ? AND (e.last_seq IS NULL OR e.last_seq >= ?)',
      [snap.account_id, snap.source, snap.seq, snap.seq],
      q,
    );
  }

  /** Every entry row of a snapshot, for zip / xob exports. */
  allAtSnapshot(snap: SnapshotRow): EntryRow[] {
    return entriesAtSnapshot(this.db, snap);
  }

  versions(accountId: number, uid: string): EntryRow[] {
    return sql<[number, string, string], EntryRow>(
      this.db,
      'SELECT * FROM entries WHERE account_id = ? AND source = ? AND uid = ? ORDER BY first_seq DESC',
    ).all(accountId, SOURCE, uid);
  }

  entry(accountId: number, id: number): EntryRow | undefined {
    return sql<[number, number], EntryRow>(this.db, 'SELECT * FROM entries WHERE id = ? AND account_id = ?').get(
      id,
      accountId,
    );
  }

  /** seq → snapshot of the account's Journal backups (for version date ranges). */
  bySeq(accountId: number): Map<number, SnapshotRow> {
    return new Map(this.snapshots(accountId).map((s) => [s.seq, s]));
  }
}
