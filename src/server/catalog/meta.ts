/**
 * meta — small named values the cleanup keeps in the catalog between runs:
 * 'cleanup.removing' (a run was removing snapshot folders), 'gc.pending'
 * (references were dropped but not yet collected), 'gc.full-at' (time of the
 * last full collection). Lost with the catalog, they only make the next
 * cleanup do a full pass.
 */
import type { Catalog } from './catalog.js';
import { sql } from './statements.js';

export type MetaKey = 'cleanup.removing' | 'gc.pending' | 'gc.full-at';

export function getMeta(db: Catalog, key: MetaKey): string | undefined {
  return sql<[string], string>(db, 'SELECT value FROM meta WHERE key = ?').pluck().get(key);
}

export function setMeta(db: Catalog, key: MetaKey, value: string): void {
  sql(db, 'INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
}

export function deleteMeta(db: Catalog, key: MetaKey): void {
  sql(db, 'DELETE FROM meta WHERE key = ?').run(key);
}
