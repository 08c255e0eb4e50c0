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
 */
import Database from 'better-sqlite3';
import type { Database as DB } from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  id INTEGER PRIMARY KEY, serial TEXT NOT NULL UNIQUE, nickname TEXT NOT NULL DEFAULT '',
  account_id INTEGER NOT NULL REFERENCES accounts(id), token_hash TEXT,
  created_at INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  last_backup_at INTEGER, pubkey TEXT, uuid TEXT
);
CREATE TABLE IF NOT EXISTS snapshots (
  id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, device_id INTEGER NOT NULL,
  serial TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL, root TEXT NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL,
  run_id TEXT, UNIQUE(serial, name)
);
CREATE INDEX IF NOT EXISTS snapshots_account ON snapshots(account_id, source, seq);
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, source TEXT NOT NULL, uid TEXT NOT NULL,
  version TEXT NOT NULL, layout INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER,
  title TEXT NOT NULL DEFAULT '', activity TEXT NOT NULL DEFAULT '', mime_type TEXT NOT NULL DEFAULT '',
  timestamp INTEGER, keep INTEGER NOT NULL DEFAULT 0,
  data_blob TEXT, data_size INTEGER NOT NULL DEFAULT 0,
  preview_blob TEXT, preview_size INTEGER NOT NULL DEFAULT 0,
  meta_ref TEXT, problems TEXT
);
CREATE INDEX IF NOT EXISTS entries_span ON entries(account_id, source, first_seq);
CREATE INDEX IF NOT EXISTS entries_uid ON entries(account_id, uid);
CREATE INDEX IF NOT EXISTS entries_open ON entries(account_id, source, uid) WHERE last_seq IS NULL;
CREATE TABLE IF NOT EXISTS account_blobs (
  account_id INTEGER NOT NULL, id TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tree_stats (
  id TEXT PRIMARY KEY, files INTEGER NOT NULL, bytes INTEGER NOT NULL
) WITHOUT ROWID;
`;

export type Catalog = DB;

export function openCatalog(path: string): Catalog {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  return db;
}

/** Clears everything that reindex rebuilds from disk. */
export function clearIndex(db: Catalog): void {
  db.exec(`DELETE FROM entries; DELETE FROM snapshots; DELETE FROM account_blobs; DELETE FROM tree_stats;
           DELETE FROM devices; DELETE FROM accounts;`);
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
