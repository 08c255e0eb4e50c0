/**
 * catalog/dav — the catalog questions the WebDAV tree and the metrics ask,
 * as typed functions (no SQL outside src/server/catalog/):
 *
 *  - davDevices / davDevice: laptops to show as top-level folders;
 *  - davSnapshots: an account's snapshots of one source, newest first;
 *  - davEntriesAt: the Journal entries (with a data file) as they were in
 *    one snapshot (first_seq <= seq AND (last_seq IS NULL OR last_seq >= seq)).
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
