/**
 * cleanup-reports — the catalog's copy of each cleanup report (the files
 * under cleanup/reports/ are the lasting copy), for the dashboard.
 */
import type { Catalog } from './catalog.js';
import { sql } from './statements.js';

export interface ReportRow {
  id: string;
  started_at: number;
  finished_at: number;
  dry_run: number;
  removed: number;
  bytes_freed: number;
  json: string;
}

export function saveReportRow(db: Catalog, r: ReportRow): void {
  sql(
    db,
    `INSERT OR REPLACE INTO cleanup_reports (id, started_at, finished_at, dry_run, removed, bytes_freed, json)
     VALUES (@id, @started_at, @finished_at, @dry_run, @removed, @bytes_freed, @json)`,
  ).run(r);
}

/** The JSON of the newest reports, by start time. */
export function latestReportJson(db: Catalog, limit: number): string[] {
  return sql<[number], string>(db, 'SELECT json FROM cleanup_reports ORDER BY started_at DESC LIMIT ?')
    .pluck()
    .all(limit);
}

/** The newest report rows, by insertion order (dashboard). */
export function recentCleanupReports(db: Catalog, limit: number): Array<Record<string, unknown>> {
  return sql<[number], Record<string, unknown>>(db, 'SELECT * FROM cleanup_reports ORDER BY rowid DESC LIMIT ?').all(
    Math.floor(limit),
  );
}
