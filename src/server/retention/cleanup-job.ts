/**
 * cleanup-job — when and how the daily cleanup runs, and where its reports go.
 *
 * `serve` attempts the job every 30 minutes; it runs at most once per UTC day
 * (the day of the last finished run is kept in <root>/cleanup/last-run.json,
 * so a server that lost power still gets its daily run when it comes back),
 * and is skipped while the 1-minute load average is above the limit, unless
 * forced. One run at a time per store: <root>/cleanup/lock holds the pid of
 * the running job (a lock whose process is gone is taken over), so the CLI
 * and a running server never clean up at once.
 * Reports: the catalog table cleanup_reports and <root>/cleanup/reports/<id>.json.
 */
import { mkdirSync, openSync, closeSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { processAlive } from '../../platform/system.js';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { perCoreLoad } from '../admission/load-policy.js';
import { AppError } from '../../platform/errors.js';
import { writeFileAtomic } from '../../platform/durable.js';
import { runCleanup, type CleanupOptions, type CleanupPolicy, type CleanupReport } from './cleanup.js';
import type { Store } from '../store/store.js';
import { latestReportJson, saveReportRow } from '../catalog/cleanup-reports.js';
import { readJsonState, unlessMissing } from '../../platform/fs-errors.js';
import { diskIsFull, ensureReserve, releaseReserve } from '../store/reserve.js';
import { releaseParts } from '../store/uploads.js';

export interface JobOptions extends CleanupOptions {
  force?: boolean;
  loadLimit: number;
  load?: () => number;
}

export type JobOutcome = { ran: true; report: CleanupReport } | { ran: false; reason: string };

function dir(store: Store): string {
  const d = join(store.root, 'cleanup');
  mkdirSync(join(d, 'reports'), { recursive: true });
  return d;
}

/** The day of the last finished run; null when none. A damaged file stops the job (--force runs anyway). */
export function lastRunDay(store: Store): string | null {
  const f = readJsonState(join(dir(store), 'last-run.json'), 'cleanup record') as { day?: unknown } | null;
  return typeof f?.day === 'string' ? f.day : null;
}

const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);

/** Takes <root>/cleanup/lock; returns the release function, or null when another live process holds it. */
export function takeLock(store: Store): (() => void) | null {
  const path = join(dir(store), 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      try {
        pid = Number(readFileSync(path, 'utf8'));
      } catch (e) {
        unlessMissing(e); // vanished: its holder just released it
      }
      if (pid && processAlive(pid)) return null;
      try {
        unlinkSync(path);
      } catch (e) {
        unlessMissing(e); // someone else took it over
      }
    }
  }
  return null;
}

export function saveReport(store: Store, r: CleanupReport): void {
  const json = JSON.stringify(r);
  writeFileAtomic(join(dir(store), 'reports', `${r.id}${r.dryRun ? '-dry-run' : ''}.json`), json + '\n');
  saveReportRow(store.db, {
    id: r.id + (r.dryRun ? '-dry-run' : ''),
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    dry_run: r.dryRun ? 1 : 0,
    removed: r.snapshots.removed,
    bytes_freed: r.bytesFreed,
    json,
  });
}

export function latestReports(store: Store, limit = 10): CleanupReport[] {
  return latestReportJson(store.db, limit).map((j) => JSON.parse(j) as CleanupReport);
}

/** One attempt of the daily job: runs unless done today, the load is high or another run holds the lock. */
export async function attemptCleanup(store: Store, policy: CleanupPolicy, opts: JobOptions): Promise<JobOutcome> {
  const today = dayOf(opts.now ?? Date.now());
  if (!opts.force && !opts.dryRun && lastRunDay(store) === today)
    return { ran: false, reason: `already done today (${today})` };
  const load = (opts.load ?? (() => perCoreLoad(loadavg()[0], availableParallelism())))();
  if (!opts.force && !opts.dryRun && load > opts.loadLimit)
    return { ran: false, reason: `load ${load.toFixed(2)} per core is above ${opts.loadLimit}` };
  // A full disk: give back the reserve and every partial upload first, so the lock,
  // the catalog's journal and the report can be written (store/reserve.ts).
  if (!opts.dryRun && diskIsFull(store.root)) {
    releaseReserve(store.root);
    releaseParts(store);
  }
  const release = takeLock(store);
  if (!release) throw new AppError('conflict', 'another cleanup is running on this store; try again later');
  try {
    const report = await runCleanup(store, policy, opts);
    saveReport(store, report);
    if (!opts.dryRun)
      writeFileAtomic(
        join(dir(store), 'last-run.json'),
        JSON.stringify({ day: today, at: report.finishedAt, id: report.id }) + '\n',
      );
    return { ran: true, report };
  } finally {
    release();
    if (!opts.dryRun) ensureReserve(store.root);
  }
}

/** The schedule inside `serve`: an attempt now and every `everyMs` (30 min). */
export function scheduleCleanup(run: () => Promise<void>, everyMs = 30 * 60_000, firstMs = 60_000): () => void {
  let busy = false;
  const tick = () => {
    if (busy) return;
    busy = true;
    void run().finally(() => {
      busy = false;
    });
  };
  const first = setTimeout(tick, firstMs);
  const timer = setInterval(tick, everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
