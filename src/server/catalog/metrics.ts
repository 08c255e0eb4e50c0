/**
 * catalog/metrics — the catalog questions GET /metrics asks, as typed
 * functions: laptops' last backups, the distinct objects the accounts
 * reference, and the cleanup runs recorded in cleanup_reports (that table
 * exists once a cleanup ran; before, there is nothing to report).
 */
import type { Catalog } from './catalog.js';

export interface LaptopActivity {
  serial: string;
  last_backup_at: number | null;
  disabled: number;
}

export function laptopActivity(db: Catalog): LaptopActivity[] {
  return db.prepare('SELECT serial, last_backup_at, disabled FROM devices ORDER BY serial').all() as LaptopActivity[];
}

/** Distinct blobs and trees the accounts reference, and their bytes (each counted once). */
export function referencedObjects(db: Catalog): { objects: number; bytes: number } {
  return db
    .prepare(
      'SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM (SELECT id, max(size) AS size FROM account_blobs GROUP BY id)',
    )
    .get() as { objects: number; bytes: number };
}

export interface CleanupRunRow {
  finished_at: number;
  bytes_freed: number;
  json: string;
}

/** Finished cleanup runs (not dry runs), newest first; none when the cleanup never ran. */
export function cleanupRuns(db: Catalog, limit: number): CleanupRunRow[] {
  const t = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'cleanup_reports'").get();
  if (!t) return [];
  return db
    .prepare(
      'SELECT finished_at, bytes_freed, json FROM cleanup_reports WHERE dry_run = 0 ORDER BY finished_at DESC LIMIT ?',
    )
    .all(limit) as CleanupRunRow[];
}

/** Count and freed bytes of every finished cleanup run. */
export function cleanupTotals(db: Catalog): { runs: number; bytes: number } {
  const t = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'cleanup_reports'").get();
  if (!t) return { runs: 0, bytes: 0 };
  return db
    .prepare('SELECT count(*) AS runs, coalesce(sum(bytes_freed), 0) AS bytes FROM cleanup_reports WHERE dry_run = 0')
    .get() as { runs: number; bytes: number };
}
