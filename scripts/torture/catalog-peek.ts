/**
 * catalog-peek — read-only looks into a running server's catalog.sqlite
 * (WAL: readers never block the server) for real ids to aim at: an
 * account's blobs, snapshot names, Journal entry uids and version ids.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';

export interface Aim {
  blobIds: string[];
  snapshotNames: string[];
  uids: string[];
  versionIds: string[];
  entries: Array<{ id: string; uid: string; dataBlob: string | null; serial: string }>;
}

export function aimAt(root: string, serial: string): Aim {
  const db = new Database(join(root, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const acct = db.prepare('SELECT account_id AS a FROM devices WHERE serial = ?').get(serial) as { a: number };
    const blobIds = (
      db.prepare('SELECT id FROM account_blobs WHERE account_id = ?').all(acct.a) as Array<{ id: string }>
    ).map((r) => r.id);
    const snapshotNames = (
      db.prepare('SELECT name FROM snapshots WHERE serial = ?').all(serial) as Array<{ name: string }>
    ).map((r) => r.name);
    const rows = db
      .prepare('SELECT id, uid, data_blob AS dataBlob FROM entries WHERE account_id = ?')
      .all(acct.a) as Array<{ id: number; uid: string; dataBlob: string | null }>;
    return {
      blobIds,
      snapshotNames,
      uids: [...new Set(rows.map((r) => r.uid))],
      versionIds: rows.map((r) => String(r.id)),
      entries: rows.map((r) => ({ id: String(r.id), uid: r.uid, dataBlob: r.dataBlob, serial })),
    };
  } finally {
    db.close();
  }
}
