/**
 * ownership — which blobs an account may cite in its trees (issue 16 §4,
 * proof of possession).
 *
 * An account owns a blob (a whole file or one chunk) when it sent the blob's
 * bytes (a batch frame or a resumable upload whose hash matched, even when
 * the pool already had them), proved it has them (an HMAC under a fresh
 * server nonce, ingest/challenges.ts), or its legacy folders on the server
 * hold them. Owned = referenced by the account's snapshots or pins
 * (account_blobs, rebuilt by `reindex` and the cleanup's recount) OR a row
 * of `blob_owners` (uploaded or proved, not committed yet; catalog only, so
 * a lost catalog costs at most a proof again).
 *
 * A commit settles the account's rows: those its snapshots now reference
 * move into account_blobs (the row goes), and rows older than
 * OWNER_ROW_DAYS (a run that never committed) are dropped. So the table
 * holds only the uncommitted work of recent runs.
 */
import type { Catalog } from './catalog.js';
import { sql } from './statements.js';

export const OWNER_ROW_DAYS = 7;

/** Does the account own this blob (referenced, uploaded or proved)? */
export function ownsBlob(db: Catalog, accountId: number, id: string): boolean {
  return (
    sql<[{ acc: number; id: string }], number>(
      db,
      `SELECT EXISTS (SELECT 1 FROM account_blobs WHERE account_id = @acc AND id = @id)
           OR EXISTS (SELECT 1 FROM blob_owners WHERE account_id = @acc AND id = @id)`,
    )
      .pluck()
      .get({ acc: accountId, id }) === 1
  );
}

/** Records that the account uploaded or proved these blobs (one transaction). */
export function grantOwnership(db: Catalog, accountId: number, ids: Iterable<string>, now = Date.now()): void {
  const ins = sql(db, 'INSERT OR REPLACE INTO blob_owners (account_id, id, at) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const id of ids) ins.run(accountId, id, now);
  })();
}

/** After a commit: drops the account's rows its snapshots now reference, and stale ones. */
export function settleOwnership(db: Catalog, accountId: number, now = Date.now()): void {
  sql(
    db,
    `DELETE FROM blob_owners WHERE account_id = @acc
       AND (at < @old OR EXISTS (SELECT 1 FROM account_blobs a WHERE a.account_id = @acc AND a.id = blob_owners.id))`,
  ).run({ acc: accountId, old: now - OWNER_ROW_DAYS * 86_400_000 });
}

/** The account's uncommitted ownership rows (tests, diagnostics). */
export function pendingOwnership(db: Catalog, accountId: number): string[] {
  return sql<[number], string>(db, 'SELECT id FROM blob_owners WHERE account_id = ?').pluck().all(accountId);
}
