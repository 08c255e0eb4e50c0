/**
 * schema — the catalog's tables, created and migrated in this one place.
 *
 * `PRAGMA user_version` says which migrations a catalog has had; migrate()
 * runs the missing ones in order, each in its own transaction with the
 * version bump, so a crash leaves the catalog at a whole version. A catalog
 * newer than this code is refused (opening it could misread it).
 *
 *  1  the schema of every catalog written before numbered migrations (all
 *     `IF NOT EXISTS`, so such a catalog — user_version 0 — passes through
 *     unchanged): the index tables, pins, cleanup reports, web sessions and
 *     one-time links, restore codes, replacement approvals.
 *  2  restore codes and replacement approvals leave the catalog for files
 *     under the store root (accounts/), so that `reindex` loses nothing a
 *     student or the admin relies on: their rows are handed to `secrets` (the
 *     store writes the files) and the tables are dropped.
 *  3  the web dashboard's archived laptops and the agents' reports.
 *  4  proof of possession (issue 16 §4, ownership.ts): `blob_owners`, the blobs
 *     an account uploaded or proved and has not committed yet. An account owns
 *     what its snapshots and pins reference (account_blobs) plus these rows, so
 *     every blob an existing catalog's snapshots reference is owned by its
 *     account from the first open on (an upgrade breaks no backup), and
 *     `reindex`, which rebuilds account_blobs from the snapshots, rebuilds
 *     ownership the same way.
 *  5  tree_stats.depth: how deep each tree's folders nest (the commit's
 *     depth limit reads it for subtrees reused from earlier snapshots).
 */
import type { Database } from 'better-sqlite3';
import { AppError } from '../../platform/errors.js';

export interface LegacySecrets {
  restoreCodes: Array<{ serial: string; code: string; updatedAt: number }>;
  approvals: Array<{ newSerial: string; oldSerial: string; createdAt: number }>;
}

export interface MigrationHooks {
  /** Migration 2: keep these (durably) before their tables are dropped. */
  secrets(s: LegacySecrets): void;
}

const V1 = `
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
CREATE INDEX IF NOT EXISTS entries_latest ON entries(account_id, source, uid, first_seq);
CREATE TABLE IF NOT EXISTS account_blobs (
  account_id INTEGER NOT NULL, id TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tree_stats (
  id TEXT PRIMARY KEY, files INTEGER NOT NULL, bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pins (
  id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, serial TEXT NOT NULL, kind TEXT NOT NULL,
  snapshot TEXT, uid TEXT, version TEXT, auto INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pins_account ON pins(account_id);
CREATE TABLE IF NOT EXISTS cleanup_reports (
  id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL, dry_run INTEGER NOT NULL,
  removed INTEGER NOT NULL, bytes_freed INTEGER NOT NULL, json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_sessions (
  id_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, account_id INTEGER, serial TEXT,
  csrf TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS web_links (
  hash TEXT PRIMARY KEY, serial TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS restore_pins (serial TEXT PRIMARY KEY, pin TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replacement_approvals (
  new_serial TEXT PRIMARY KEY, old_serial TEXT NOT NULL, created_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

type Migration = (db: Database, hooks: MigrationHooks) => void;

/** MIGRATIONS[i] takes a catalog from user_version i to i + 1. Append only. */
const MIGRATIONS: Migration[] = [
  (db) => db.exec(V1),
  (db, hooks) => {
    const restoreCodes = db
      .prepare('SELECT serial, pin AS code, updated_at AS updatedAt FROM restore_pins ORDER BY serial')
      .all() as LegacySecrets['restoreCodes'];
    const approvals = db
      .prepare(
        'SELECT new_serial AS newSerial, old_serial AS oldSerial, created_at AS createdAt FROM replacement_approvals',
      )
      .all() as LegacySecrets['approvals'];
    hooks.secrets({ restoreCodes, approvals });
    db.exec('DROP TABLE restore_pins; DROP TABLE replacement_approvals;');
  },
  // 2 → 3: the web dashboard's archived laptops and the agents' reports (web-dashboard.ts).
  // IF NOT EXISTS: a catalog from the `web` branch's builds made these at open, before they were a migration.
  (db) =>
    db.exec(`
CREATE TABLE IF NOT EXISTS device_archive (serial TEXT PRIMARY KEY, archived_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agent_reports (
  id INTEGER PRIMARY KEY, serial TEXT NOT NULL, at INTEGER NOT NULL, outcome TEXT NOT NULL,
  reason TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS agent_reports_serial ON agent_reports(serial, id);
`),
  // 3 → 4: blobs uploaded or proved by an account, not yet referenced by its snapshots (ownership.ts).
  (db) =>
    db.exec(`
CREATE TABLE IF NOT EXISTS blob_owners (
  account_id INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
`),
  // 4 → 5: each tree's folder depth beside its totals (NULL: not known yet; ingest/tree-depth.ts).
  (db) => {
    const cols = db.prepare('PRAGMA table_info(tree_stats)').all() as Array<{ name: string }>;
    if (!cols.some((c) => c.name === 'depth')) db.exec('ALTER TABLE tree_stats ADD COLUMN depth INTEGER');
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

const versionOf = (db: Database) => db.pragma('user_version', { simple: true }) as number;

/**
 * Brings the catalog to SCHEMA_VERSION; returns the version it had. Each step
 * takes the write lock first (BEGIN IMMEDIATE) and reads the version again,
 * so two processes opening an old catalog at once migrate it once.
 */
export function migrate(db: Database, hooks: MigrationHooks): number {
  const from = versionOf(db);
  if (from > SCHEMA_VERSION)
    throw new AppError(
      'conflict',
      `catalog.sqlite is version ${from}, newer than this ds-backup-server reads (${SCHEMA_VERSION}); upgrade ds-backup-server`,
    );
  const step = db.transaction(() => {
    const v = versionOf(db);
    if (v >= SCHEMA_VERSION) return false;
    MIGRATIONS[v](db, hooks);
    db.pragma(`user_version = ${v + 1}`);
    return true;
  });
  while (step.immediate()) {
    /* one migration per transaction */
  }
  return from;
}
