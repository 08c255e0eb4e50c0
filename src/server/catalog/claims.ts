/**
 * claims — when each object of a remote store (S3) was last claimed, and
 * which ones a GC is deleting right now: the remote store's stand-in for
 * the local pool's mtimes (an S3 object's time cannot be set).
 *
 *   <root>/claims.sqlite   claims(key PRIMARY KEY, at, doomed)
 *
 * A separate file from catalog.sqlite (reindex rebuilds the catalog; these
 * are not derived from the store), shared by `serve` and a `cleanup`
 * process (WAL). The GC protocol (s3-store.ts sweep/touch):
 *  - claim(key): in one transaction, refused (false) while the key is doomed,
 *    else its time is set to now;
 *  - doom(key, horizon): in one transaction, true (and the key marked doomed)
 *    only when it was not claimed at or after the horizon;
 *  - release(key) after the delete. So a claim either lands before the GC's
 *    decision (and the object stays) or is refused (the client is told
 *    "missing" and sends it again).
 */
import Database from 'better-sqlite3';

export interface ClaimLog {
  claim(key: string, now: number): boolean;
  claimedAt(key: string): number;
  doom(key: string, horizonMs: number): boolean;
  release(key: string): void;
  /** Clears what a crashed sweep left doomed; how many. */
  releaseAll(): number;
  close(): void;
}

export function openClaims(path: string): ClaimLog {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, at INTEGER NOT NULL, doomed INTEGER NOT NULL)');
  const get = db.prepare<[string], { at: number; doomed: number }>('SELECT at, doomed FROM claims WHERE key = ?');
  const put = db.prepare(
    'INSERT INTO claims (key, at, doomed) VALUES (?, ?, 0) ON CONFLICT(key) DO UPDATE SET at = excluded.at',
  );
  const mark = db.prepare(
    'INSERT INTO claims (key, at, doomed) VALUES (?, 0, 1) ON CONFLICT(key) DO UPDATE SET doomed = 1',
  );
  const drop = db.prepare('DELETE FROM claims WHERE key = ?');
  const claim = db.transaction((key: string, now: number) => {
    if (get.get(key)?.doomed) return false;
    put.run(key, now);
    return true;
  });
  const doom = db.transaction((key: string, horizon: number) => {
    const row = get.get(key);
    if (row && (row.doomed || row.at >= horizon)) return false;
    mark.run(key);
    return true;
  });
  return {
    claim: (key, now) => claim.immediate(key, now),
    claimedAt: (key) => get.get(key)?.at ?? 0,
    doom: (key, horizon) => doom.immediate(key, horizon),
    release: (key) => void drop.run(key),
    releaseAll: () => db.prepare('DELETE FROM claims WHERE doomed = 1').run().changes,
    close: () => db.close(),
  };
}
