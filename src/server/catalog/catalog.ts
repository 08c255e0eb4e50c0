/**
 * catalog — the SQLite index of devices, accounts, snapshots, Journal entry
 * versions and blob references.
 *
 * The filesystem (pool/, trees/, users/) is the truth; this file is an index
 * that `reindex` rebuilds from it. Its size grows with what changed, not with
 * snapshots × files:
 *  - a snapshot is one row;
 *  - a Journal entry version is one row with a span of snapshot sequence
 *    numbers [first_seq, last_seq] (last_seq NULL = still present in the
 *    latest snapshot), so an unchanged daily backup adds no entry rows;
 *  - account_blobs lists each distinct blob or tree an account references
 *    once (used to authorize downloads and to measure usage);
 *  - tree_stats caches file counts and byte totals per tree.
 * Sequence numbers count an account's snapshots of one source, in order.
 *
 * Beside the index it keeps what may be lost with it: web sessions and
 * one-time sign-in links (a lost catalog signs everyone out), cleanup reports
 * (also in cleanup/reports/), and the pins index (rebuilt from pins.json).
 * Every statement is in this folder (one file per concept, prepared once per
 * database: statements.ts); the schema and its migrations are in schema.ts.
 */
import Database from 'better-sqlite3';
import type { Database as DB } from 'better-sqlite3';
import { migrate, type MigrationHooks } from './schema.js';

export type Catalog = DB;

/** Opens (creating or migrating, schema.ts) the catalog at `path`. */
export function openCatalog(path: string, hooks: MigrationHooks): Catalog {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, hooks);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** Clears everything that reindex rebuilds from disk (pins: pins-index.ts reloads them). */
export function clearIndex(db: Catalog): void {
  db.transaction(() =>
    db.exec(`DELETE FROM entries; DELETE FROM snapshots; DELETE FROM account_blobs; DELETE FROM tree_stats;
             DELETE FROM blob_owners; DELETE FROM devices; DELETE FROM accounts;`),
  )();
}

export interface DeviceRow {
  id: number;
  serial: string;
  nickname: string;
  account_id: number;
  token_hash: string | null;
  created_at: number;
  disabled: number;
  last_backup_at: number | null;
  pubkey: string | null;
  uuid: string | null;
}

export interface SnapshotRow {
  id: number;
  account_id: number;
  device_id: number;
  serial: string;
  source: string;
  name: string;
  seq: number;
  created_at: number;
  root: string;
  files: number;
  bytes: number;
  run_id: string | null;
}

export interface EntryRow {
  id: number;
  account_id: number;
  source: string;
  uid: string;
  version: string;
  layout: number;
  first_seq: number;
  last_seq: number | null;
  title: string;
  activity: string;
  mime_type: string;
  timestamp: number | null;
  keep: number;
  data_blob: string | null;
  data_size: number;
  preview_blob: string | null;
  preview_size: number;
  meta_ref: string | null;
  problems: string | null;
}

const ROLLBACK = Symbol('rollback');

/** Runs `fn` in a transaction that is always rolled back (a dry run; its own errors are thrown). */
export function rolledBack(db: Catalog, fn: () => void): void {
  try {
    db.transaction(() => {
      fn();
      throw ROLLBACK;
    })();
  } catch (e) {
    if (e !== ROLLBACK) throw e;
  }
}
