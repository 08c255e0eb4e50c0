/**
 * web-dashboard — catalog tables and questions for the dashboard and the
 * Journal pages that the core schema does not have:
 *
 *  - device_archive: laptops the admin archived (left the school). Their
 *    backups stay under the normal cleanup rules; the dashboard keeps them
 *    out of the late / stale counts.
 *  - agent_reports: what the laptops' `ds-backup run` reported after a
 *    failure or a skip (POST /api/v1/reports). The same outcome and reason
 *    as the previous report of a laptop only bumps its time and count, and
 *    at most KEEP_REPORTS rows per laptop are kept, so a laptop that skips
 *    every 15 minutes cannot grow the table.
 *  - documentsPerBackup: how many Journal documents each backup holds (the
 *    pages count documents, not files).
 *
 * The tables come from schema.ts's migration 2 → 3.
 */
import type { ReportOutcome } from '../../protocol/api-types.js';
import type { Catalog } from './catalog.js';

export type { ReportOutcome };
export const KEEP_REPORTS = 20;

export interface AgentReport {
  serial: string;
  at: number;
  outcome: ReportOutcome;
  reason: string;
  count: number;
}

export class DashboardCatalog {
  constructor(private readonly db: Catalog) {}

  setArchived(serial: string, archived: boolean, now = Date.now()): void {
    if (archived) this.db.prepare('INSERT OR IGNORE INTO device_archive VALUES (?, ?)').run(serial, now);
    else this.db.prepare('DELETE FROM device_archive WHERE serial = ?').run(serial);
  }

  archived(): Map<string, number> {
    const rows = this.db.prepare('SELECT serial, archived_at FROM device_archive').all() as Array<{
      serial: string;
      archived_at: number;
    }>;
    return new Map(rows.map((r) => [r.serial, r.archived_at]));
  }

  addReport(serial: string, outcome: ReportOutcome, reason: string, at = Date.now()): void {
    this.db.transaction(() => {
      const last = this.db
        .prepare('SELECT id, outcome, reason FROM agent_reports WHERE serial = ? ORDER BY id DESC LIMIT 1')
        .get(serial) as { id: number; outcome: string; reason: string } | undefined;
      if (last && last.outcome === outcome && last.reason === reason)
        this.db.prepare('UPDATE agent_reports SET at = ?, count = count + 1 WHERE id = ?').run(at, last.id);
      else
        this.db
          .prepare('INSERT INTO agent_reports (serial, at, outcome, reason) VALUES (?, ?, ?, ?)')
          .run(serial, at, outcome, reason);
      this.db
        .prepare(
          'DELETE FROM agent_reports WHERE serial = ? AND id NOT IN (SELECT id FROM agent_reports WHERE serial = ? ORDER BY id DESC LIMIT ?)',
        )
        .run(serial, serial, KEEP_REPORTS);
    })();
  }

  /** The newest report of every laptop. */
  lastReports(): Map<string, AgentReport> {
    const rows = this.db
      .prepare(
        'SELECT r.serial, r.at, r.outcome, r.reason, r.count FROM agent_reports r WHERE r.id = (SELECT max(id) FROM agent_reports x WHERE x.serial = r.serial)',
      )
      .all() as AgentReport[];
    return new Map(rows.map((r) => [r.serial, r]));
  }

  /** A laptop's reports, newest first. */
  reports(serial: string): AgentReport[] {
    return this.db
      .prepare('SELECT serial, at, outcome, reason, count FROM agent_reports WHERE serial = ? ORDER BY id DESC')
      .all(serial) as AgentReport[];
  }

  forget(serial: string): void {
    this.db.prepare('DELETE FROM agent_reports WHERE serial = ?').run(serial);
    this.db.prepare('DELETE FROM device_archive WHERE serial = ?').run(serial);
  }

  /** seq → number of Journal documents in that backup, for one account's `source` backups. */
  documentsPerBackup(accountId: number, source: string): Map<number, number> {
    const rows = this.db
      .prepare(
        `SELECT s.seq AS seq, count(e.id) AS n FROM snapshots s
         JOIN entries e ON e.account_id = s.account_id AND e.source = s.source
           AND e.first_seq <= s.seq AND (e.last_seq IS NULL OR e.last_seq >= s.seq)
         WHERE s.account_id = ? AND s.source = ? GROUP BY s.seq`,
      )
      .all(accountId, source) as Array<{ seq: number; n: number }>;
    return new Map(rows.map((r) => [r.seq, r.n]));
  }
}
