/**
 * admin-data — what the dashboard shows, read from the catalog:
 *
 *  - laptopStatus(): the pure rule ok / late / stale / never / disabled from
 *    the last successful backup and the thresholds (config lateDays,
 *    staleDays), with the reason in words for the page;
 *  - laptops(): every laptop with its nickname, last backup, snapshot count
 *    and the storage its account references (distinct blobs, each counted
 *    once per account: what deleting the account could free at most);
 *  - daily(): backups per day and the size of each account's latest Journal
 *    backup summed per day, over the last `days` days (chart data);
 *  - cleanupReports(): the last rows of the cleanup issue's `cleanup_reports`
 *    table when it exists, else nothing.
 */
import type { Catalog } from '../../catalog/catalog.js';

export type LaptopStatus = 'ok' | 'late' | 'stale' | 'never' | 'disabled';
const DAY = 86_400_000;

export function laptopStatus(
  lastBackupAt: number | null,
  disabled: boolean,
  now: number,
  p: { lateDays: number; staleDays: number },
): { status: LaptopStatus; days: number | null } {
  if (disabled) return { status: 'disabled', days: null };
  if (lastBackupAt === null) return { status: 'never', days: null };
  const days = (now - lastBackupAt) / DAY;
  if (days >= p.staleDays) return { status: 'stale', days };
  if (days >= p.lateDays) return { status: 'late', days };
  return { status: 'ok', days };
}

export interface LaptopRow {
  serial: string;
  nickname: string;
  accountId: number;
  lastBackupAt: number | null;
  disabled: boolean;
  snapshots: number;
  storage: number;
  status: LaptopStatus;
}

export function laptops(db: Catalog, now: number, p: { lateDays: number; staleDays: number }): LaptopRow[] {
  const storage = new Map(
    (
      db.prepare('SELECT account_id, sum(size) AS bytes FROM account_blobs GROUP BY account_id').all() as Array<{
        account_id: number;
        bytes: number;
      }>
    ).map((r) => [r.account_id, r.bytes]),
  );
  const snaps = new Map(
    (
      db.prepare('SELECT serial, count(*) AS n FROM snapshots GROUP BY serial').all() as Array<{
        serial: string;
        n: number;
      }>
    ).map((r) => [r.serial, r.n]),
  );
  const rows = db
    .prepare('SELECT serial, nickname, account_id, last_backup_at, disabled FROM devices ORDER BY serial')
    .all() as Array<{
    serial: string;
    nickname: string;
    account_id: number;
    last_backup_at: number | null;
    disabled: number;
  }>;
  return rows.map((d) => ({
    serial: d.serial,
    nickname: d.nickname,
    accountId: d.account_id,
    lastBackupAt: d.last_backup_at,
    disabled: d.disabled === 1,
    snapshots: snaps.get(d.serial) ?? 0,
    storage: storage.get(d.account_id) ?? 0,
    status: laptopStatus(d.last_backup_at, d.disabled === 1, now, p).status,
  }));
}

export interface DayPoint {
  day: number;
  backups: number;
  bytes: number;
}

export function daily(db: Catalog, now: number, days = 30): DayPoint[] {
  const first = Math.floor(now / DAY) * DAY - (days - 1) * DAY;
  const rows = db
    .prepare("SELECT account_id, created_at, bytes FROM snapshots WHERE source = 'datastore' ORDER BY created_at")
    .all() as Array<{ account_id: number; created_at: number; bytes: number }>;
  const latest = new Map<number, number>();
  const out: DayPoint[] = [];
  let i = 0;
  for (let d = 0; d < days; d++) {
    const start = first + d * DAY;
    let backups = 0;
    for (; i < rows.length && rows[i].created_at < start + DAY; i++) {
      latest.set(rows[i].account_id, rows[i].bytes);
      if (rows[i].created_at >= start) backups++;
    }
    let bytes = 0;
    for (const b of latest.values()) bytes += b;
    out.push({ day: start, backups, bytes });
  }
  return out;
}

export function cleanupReports(db: Catalog, limit = 5): Array<Record<string, unknown>> {
  const t = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'cleanup_reports'").get();
  if (!t) return [];
  return db.prepare(`SELECT * FROM cleanup_reports ORDER BY rowid DESC LIMIT ${Math.floor(limit)}`).all() as Array<
    Record<string, unknown>
  >;
}
