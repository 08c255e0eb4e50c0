/**
 * devices — the catalog's accounts and devices (an index of the
 * users/<SN>/device.json files, accounts/registry.ts), and removing an
 * account's rows.
 */
import type { Catalog, DeviceRow } from './catalog.js';
import { sql } from './statements.js';
import { forgetSerial } from './web-sessions.js';

/** A laptop's record: users/<SN>/device.json (accounts/registry.ts), indexed here. */
export interface DeviceRecord {
  serial: string;
  nickname: string;
  account: string;
  tokenHash: string | null;
  createdAt: number;
  disabled: boolean;
  pubkey?: string | null;
  uuid?: string | null;
}

export function deviceBySerial(db: Catalog, serial: string): DeviceRow | undefined {
  return sql<[string], DeviceRow>(db, 'SELECT * FROM devices WHERE serial = ?').get(serial);
}

/** Inserts or updates a device and creates its account row when new. */
export function upsertDevice(db: Catalog, d: DeviceRecord): DeviceRow {
  sql(db, 'INSERT OR IGNORE INTO accounts (key, created_at) VALUES (?, ?)').run(d.account, d.createdAt);
  const acc = sql<[string], { id: number }>(db, 'SELECT id FROM accounts WHERE key = ?').get(d.account)!;
  sql(
    db,
    `INSERT INTO devices (serial, nickname, account_id, token_hash, created_at, disabled, pubkey, uuid)
     VALUES (@serial, @nickname, @acc, @tokenHash, @createdAt, @disabled, @pubkey, @uuid)
     ON CONFLICT(serial) DO UPDATE SET nickname = excluded.nickname, account_id = excluded.account_id,
       token_hash = excluded.token_hash, disabled = excluded.disabled, pubkey = excluded.pubkey, uuid = excluded.uuid`,
  ).run({
    serial: d.serial,
    nickname: d.nickname,
    acc: acc.id,
    tokenHash: d.tokenHash,
    createdAt: d.createdAt,
    disabled: d.disabled ? 1 : 0,
    pubkey: d.pubkey ?? null,
    uuid: d.uuid ?? null,
  });
  return deviceBySerial(db, d.serial)!;
}

export function accountKey(db: Catalog, accountId: number): string {
  return sql<[number], string>(db, 'SELECT key FROM accounts WHERE id = ?').pluck().get(accountId)!;
}

export function accountIds(db: Catalog): number[] {
  return sql<[], number>(db, 'SELECT id FROM accounts ORDER BY id').pluck().all();
}

export function serialsOfAccount(db: Catalog, accountId: number): string[] {
  return sql<[number], string>(db, 'SELECT serial FROM devices WHERE account_id = ? ORDER BY serial')
    .pluck()
    .all(accountId);
}

/** Every device, for the admin dashboard. */
export function allDevices(
  db: Catalog,
): Array<Pick<DeviceRow, 'serial' | 'nickname' | 'account_id' | 'last_backup_at' | 'disabled'>> {
  return sql<[], DeviceRow>(
    db,
    'SELECT serial, nickname, account_id, last_backup_at, disabled FROM devices ORDER BY serial',
  ).all();
}

export function touchLastBackup(db: Catalog, deviceId: number, at: number): void {
  sql(db, 'UPDATE devices SET last_backup_at = max(coalesce(last_backup_at, 0), ?) WHERE id = ?').run(at, deviceId);
}

/** Removes every catalog row of an account and signs its laptops out, in one transaction. */
export function deleteAccountRows(db: Catalog, accountId: number, serials: string[]): void {
  db.transaction(() => {
    deleteRows(db, accountId);
    for (const sn of serials) forgetSerial(db, sn);
  })();
}

function deleteRows(db: Catalog, accountId: number): void {
  sql(db, 'DELETE FROM entries WHERE account_id = ?').run(accountId);
  sql(db, 'DELETE FROM snapshots WHERE account_id = ?').run(accountId);
  sql(db, 'DELETE FROM account_blobs WHERE account_id = ?').run(accountId);
  sql(db, 'DELETE FROM blob_owners WHERE account_id = ?').run(accountId);
  sql(db, 'DELETE FROM devices WHERE account_id = ?').run(accountId);
  sql(db, 'DELETE FROM accounts WHERE id = ?').run(accountId);
  sql(db, 'DELETE FROM pins WHERE account_id = ?').run(accountId);
}
