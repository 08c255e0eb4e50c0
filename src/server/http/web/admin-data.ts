/**
 * admin-data — what the dashboard shows, read from the catalog:
 *
 *  - laptopStatus(): the pure rule ok / late / stale / never / disabled from
 *    the last successful backup and the thresholds (config lateDays,
 *    staleDays), with the reason in words for the page;
 *  - laptops(): every laptop with its nickname, last backup, snapshot count
 *    and the storage its account references (distinct blobs, each counted
 *    once per account: what deleting the account could free at most), and
 *    with the dashboard's extras (DashboardCatalog): archived, the agent's
 *    last report, the last contact; a laptop whose agent reported a failure
 *    or a "busy" give-up after its last good backup is 'failing';
 *  - byNeed(): the order of the dashboard — stale (and never backed up),
 *    late, failing, ok, disabled, archived; the oldest backup first within;
 *  - daily(): backups per day and the size of each account's latest Journal
 *    backup summed per day, over the last `days` days (chart data);
 * The cleanup reports come from retention's latestReports() (admin-pages.ts).
 */
import type { Catalog } from '../../catalog/catalog.js';
import { allDevices } from '../../catalog/devices.js';
import { snapshotCountBySerial, datastoreSizes } from '../../catalog/snapshots.js';
import { storageByAccount } from '../../catalog/refs.js';
import type { AgentReport, DashboardCatalog } from '../../catalog/web-dashboard.js';

export type LaptopStatus = 'ok' | 'late' | 'stale' | 'never' | 'disabled' | 'failing' | 'archived';
export const NEED_ORDER: LaptopStatus[] = ['stale', 'never', 'late', 'failing', 'ok', 'disabled', 'archived'];
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
  archived: boolean;
  /** The agent's newest report when it came after the last good backup. */
  problem: AgentReport | null;
  /** The newest of: last backup, last report. */
  lastContact: number | null;
}

/** The dashboard's status: archived and failing on top of laptopStatus(). */
export function fullStatus(base: LaptopStatus, archived: boolean, problem: AgentReport | null): LaptopStatus {
  if (archived) return 'archived';
  if (base === 'ok' && problem && problem.outcome !== 'skipped') return 'failing';
  return base;
}

export function byNeed(a: LaptopRow, b: LaptopRow): number {
  return (
    NEED_ORDER.indexOf(a.status) - NEED_ORDER.indexOf(b.status) ||
    (a.lastBackupAt ?? 0) - (b.lastBackupAt ?? 0) ||
    a.serial.localeCompare(b.serial)
  );
}

export function laptops(
  db: Catalog,
  now: number,
  p: { lateDays: number; staleDays: number },
  dash: DashboardCatalog,
): LaptopRow[] {
  const archived = dash.archived();
  const reports = dash.lastReports();
  const storage = storageByAccount(db);
  const snaps = snapshotCountBySerial(db);
  const rows = allDevices(db);
  return rows
    .map((d) => {
      const report = reports.get(d.serial) ?? null;
      const problem = report && report.at > (d.last_backup_at ?? 0) ? report : null;
      const base = laptopStatus(d.last_backup_at, d.disabled === 1, now, p).status;
      const contact = Math.max(d.last_backup_at ?? 0, report?.at ?? 0);
      return {
        serial: d.serial,
        nickname: d.nickname,
        accountId: d.account_id,
        lastBackupAt: d.last_backup_at,
        disabled: d.disabled === 1,
        snapshots: snaps.get(d.serial) ?? 0,
        storage: storage.get(d.account_id) ?? 0,
        status: fullStatus(base, archived.has(d.serial), problem),
        archived: archived.has(d.serial),
        problem,
        lastContact: contact || null,
      };
    })
    .sort(byNeed);
}

export interface DayPoint {
  day: number;
  backups: number;
  bytes: number;
}

export function daily(db: Catalog, now: number, days = 30): DayPoint[] {
  const first = Math.floor(now / DAY) * DAY - (days - 1) * DAY;
  const rows = datastoreSizes(db);
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
