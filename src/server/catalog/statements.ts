/**
 * statements — every catalog statement is prepared once per database.
 *
 * `sql(db, text)` returns the statement for `text`, preparing it on first use
 * and keeping it for the life of the connection (a WeakMap, so a closed and
 * dropped database takes its statements with it). Only files in catalog/
 * call it: they are the one place SQL is written.
 */
import type { Database, Statement } from 'better-sqlite3';

const cache = new WeakMap<Database, Map<string, Statement>>();

export function sql<P extends unknown[] = unknown[], R = unknown>(db: Database, text: string): Statement<P, R> {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(text);
  if (!s) m.set(text, (s = db.prepare(text)));
  return s as unknown as Statement<P, R>;
}
