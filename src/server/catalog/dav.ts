/**
 * catalog/dav — the catalog questions the WebDAV tree and the metrics ask,
 * as typed functions (no SQL outside src/server/catalog/):
 *
 *  - davDevices / davDevice: laptops to show as top-level folders;
 *  - davSnapshots: an account's snapshots of one source, newest first;
 *  - davEntriesAt: the Journal entries (with a data file) as they were in
 *    one snapshot (first_seq <= seq AND (last_seq IS NULL OR last_seq >= seq));
 *  - laptopActivity / referencedObjects / cleanupRuns: figures for /metrics.
 */
import type { Catalog, DeviceRow, EntryRow, SnapshotRow } from './catalog.js';

export function davDevices(db: Catalog): DeviceRow[] {
  return db.prepare('SELECT * FROM devices ORDER BY serial').all() as DeviceRow[];
}

export function davDevice(db: Catalog, serial: string): DeviceRow | undefined {
  return db.prepare('SELECT * FROM devices WHERE serial = ?').get(serial) as DeviceRow | undefined;
}

export function davSnapshots(db: Catalog, accountId: number, source: string): SnapshotRow[] {
  return db
    .prepare('SELECT * FROM snapshots WHERE account_id = ? AND source = ? ORDER BY seq DESC')
    .all(accountId, source) as SnapshotRow[];
}

export function davEntriesAt(db: Catalog, snap: SnapshotRow): EntryRow[] {
  return db
    .prepare(
      `SELECT * FROM entries WHERE account_id = ? AND source = ? AND first_seq <= ? AND (last_seq IS NULL OR last_seq >= ?)
       AND data_blob IS NOT NULL ORDER BY timestamp DESC, uid`,
    )
    .all(snap.account_id, snap.source, snap.seq, snap.seq) as EntryRow[];
}

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
