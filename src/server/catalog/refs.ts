/**
 * refs — account_blobs: each distinct blob or tree an account references,
 * once (authorizes downloads, measures usage, marks what GC keeps).
 */
import type { Catalog } from './catalog.js';
import { sql } from './statements.js';

/** True when the account references this blob or tree. */
export function owns(db: Catalog, accountId: number, id: string): boolean {
  return sql(db, 'SELECT 1 FROM account_blobs WHERE account_id = ? AND id = ?').get(accountId, id) !== undefined;
}

export function addReference(db: Catalog, accountId: number, id: string, size: number): void {
  sql(db, 'INSERT OR IGNORE INTO account_blobs (account_id, id, size) VALUES (?, ?, ?)').run(accountId, id, size);
}

/** Drops and adds references of one account in one transaction. */
export function changeReferences(
  db: Catalog,
  accountId: number,
  drop: Iterable<string>,
  add: Iterable<[string, number]>,
): void {
  const del = sql(db, 'DELETE FROM account_blobs WHERE account_id = ? AND id = ?');
  db.transaction(() => {
    for (const id of drop) del.run(accountId, id);
    for (const [id, size] of add) addReference(db, accountId, id, size);
  })();
}

export function accountReferences(db: Catalog, accountId: number): string[] {
  return sql<[number], string>(db, 'SELECT id FROM account_blobs WHERE account_id = ?').pluck().all(accountId);
}

export function referencingAccounts(db: Catalog, id: string): number[] {
  return sql<[string], number>(db, 'SELECT DISTINCT account_id FROM account_blobs WHERE id = ?').pluck().all(id);
}

/** Bytes each account references (each blob once per account). */
export function storageByAccount(db: Catalog): Map<number, number> {
  const rows = sql<[], { account_id: number; bytes: number }>(
    db,
    'SELECT account_id, sum(size) AS bytes FROM account_blobs GROUP BY account_id',
  ).all();
  return new Map(rows.map((r) => [r.account_id, r.bytes]));
}

/** Cached file count, byte total and folder depth (null: not known) of a tree (tree_stats). */
export function cachedTreeStats(
  db: Catalog,
  id: string,
): { files: number; bytes: number; depth: number | null } | undefined {
  return sql<[string], { files: number; bytes: number; depth: number | null }>(
    db,
    'SELECT files, bytes, depth FROM tree_stats WHERE id = ?',
  ).get(id);
}

export function putTreeStats(db: Catalog, id: string, files: number, bytes: number, depth: number | null): void {
  sql(db, 'INSERT OR REPLACE INTO tree_stats (id, files, bytes, depth) VALUES (?, ?, ?, ?)').run(
    id,
    files,
    bytes,
    depth,
  );
}

/** A tree's folder depth when known (tree_stats). */
export function cachedTreeDepth(db: Catalog, id: string): number | null {
  return (sql<[string], number | null>(db, 'SELECT depth FROM tree_stats WHERE id = ?').pluck().get(id) ?? null) as
    number | null;
}

/** Records a tree's depth where its totals are cached (a tree without totals is left alone). */
export function setTreeDepth(db: Catalog, id: string, depth: number): void {
  sql(db, 'UPDATE tree_stats SET depth = ? WHERE id = ? AND depth IS NULL').run(depth, id);
}
