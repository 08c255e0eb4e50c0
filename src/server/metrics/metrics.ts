/**
 * metrics — what GET /metrics reports (Prometheus text format, prom-client),
 * one Registry per running server. Names follow Prometheus' conventions:
 * prefix ds_backup_, base units (seconds, bytes, ratios 0…1), counters end
 * in _total, timestamps are Unix seconds.
 *
 * Two kinds of figures:
 *  - events counted as they happen in this process (ServerMetrics methods,
 *    called from routes.ts hooks and the Admission lease hook): backups
 *    started / completed / failed by reason, admission latency, lease
 *    durations, bytes received;
 *  - state read when scraped (collect()): admission decisions (the
 *    Admission's own counters), leases, disk, referenced pool objects
 *    (catalog, cached a minute), laptops by dashboard status, the last
 *    cleanup and verify (the durable cleanup_reports, so a cleanup run from
 *    the command line counts too), build info.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { diskUsage } from '../../platform/system.js';
import { cleanupRuns, cleanupTotals, laptopActivity, referencedObjects } from '../catalog/metrics.js';
import type { ServerContext } from '../http/context.js';
import { laptopStatus, type LaptopStatus } from '../http/web/admin-data.js';

const STATUSES: LaptopStatus[] = ['ok', 'late', 'stale', 'never', 'disabled'];
const POOL_CACHE_MS = 60_000;

function packageVersion(): string {
  try {
    const pkg = join(import.meta.dirname, '..', '..', '..', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly started: Counter;
  private readonly completed: Counter;
  private readonly failed: Counter<'reason'>;
  private readonly admissionLatency: Histogram;
  private readonly leaseDuration: Histogram<'end'>;
  private readonly received: Counter;

  constructor(ctx: ServerContext, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const { admission, store, config } = ctx;
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters: `promtool check metrics` rejects them.
      for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
        this.registry.removeSingleMetric(n);
    }

    this.started = new Counter({
      name: 'ds_backup_backups_started_total',
      help: 'Backups that got a lease (POST /api/v1/backups answered 201).',
      registers,
    });
    this.completed = new Counter({
      name: 'ds_backup_backups_completed_total',
      help: 'Backups committed (snapshots written).',
      registers,
    });
    this.failed = new Counter({
      name: 'ds_backup_backups_failed_total',
      help: 'Backups that ended without a snapshot, by reason (error code of the commit, aborted, lease_expired).',
      labelNames: ['reason'],
      registers,
    });
    this.admissionLatency = new Histogram({
      name: 'ds_backup_admission_latency_seconds',
      help: 'Time to answer POST /api/v1/backups (admission decision).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.leaseDuration = new Histogram({
      name: 'ds_backup_lease_duration_seconds',
      help: 'How long backup leases lived, by how they ended (released, expired, replaced).',
      labelNames: ['end'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers,
    });
    this.received = new Counter({
      name: 'ds_backup_received_bytes_total',
      help: 'Request body bytes received on the backup protocol routes (blobs, uploads, trees, commits).',
      registers,
    });

    new Counter({
      name: 'ds_backup_admission_decisions_total',
      help: 'Admission decisions by outcome (granted, or refused: slots, priority, load, disk).',
      labelNames: ['outcome'],
      registers,
      collect() {
        const c = admission.counters;
        this.reset();
        this.inc({ outcome: 'granted' }, c.granted);
        this.inc({ outcome: 'slots' }, c.refusedSlots);
        this.inc({ outcome: 'priority' }, c.refusedPriority);
        this.inc({ outcome: 'load' }, c.refusedLoad);
        this.inc({ outcome: 'disk' }, c.refusedDisk);
      },
    });
    new Gauge({
      name: 'ds_backup_leases_active',
      help: 'Backup leases alive now.',
      registers,
      collect() {
        this.set(admission.active().length);
      },
    });
    new Gauge({
      name: 'ds_backup_admission_waiting',
      help: 'Laptops refused for lack of a slot and waiting their turn.',
      registers,
      collect() {
        this.set(admission.queue.list().length);
      },
    });

    const disk = () => diskUsage(store.root);
    new Gauge({
      name: 'ds_backup_disk_size_bytes',
      help: "Size of the store's filesystem.",
      registers,
      collect() {
        this.set(disk().totalBytes);
      },
    });
    new Gauge({
      name: 'ds_backup_disk_free_bytes',
      help: "Bytes free for the server on the store's filesystem.",
      registers,
      collect() {
        this.set(disk().freeBytes);
      },
    });
    new Gauge({
      name: 'ds_backup_disk_used_ratio',
      help: "Used share of the store's filesystem, the larger of blocks and inodes (0-1).",
      registers,
      collect() {
        this.set(disk().usedPct / 100);
      },
    });
    new Gauge({
      name: 'ds_backup_disk_soft_quota_ratio',
      help: 'The cleanup soft quota (config softQuotaPct) as a ratio (0-1).',
      registers,
      collect() {
        this.set(config.softQuotaPct / 100);
      },
    });
    new Gauge({
      name: 'ds_backup_disk_admission_limit_ratio',
      help: 'Disk use above which backups are refused (config diskLimitPct) as a ratio (0-1).',
      registers,
      collect() {
        this.set(config.diskLimitPct / 100);
      },
    });

    let pool = { at: 0, objects: 0, bytes: 0 };
    const poolFigures = () => {
      if (Date.now() - pool.at > POOL_CACHE_MS) pool = { at: Date.now(), ...referencedObjects(store.db) };
      return pool;
    };
    new Gauge({
      name: 'ds_backup_pool_objects',
      help: 'Distinct pool blobs and trees referenced by the accounts (catalog; refreshed at most once a minute).',
      registers,
      collect() {
        this.set(poolFigures().objects);
      },
    });
    new Gauge({
      name: 'ds_backup_pool_bytes',
      help: 'Bytes of the distinct pool objects referenced by the accounts (catalog; refreshed at most once a minute).',
      registers,
      collect() {
        this.set(poolFigures().bytes);
      },
    });

    new Gauge({
      name: 'ds_backup_laptops',
      help: 'Laptops by dashboard status (ok, late, stale, never backed up, disabled).',
      labelNames: ['status'],
      registers,
      collect() {
        const n = new Map<string, number>(STATUSES.map((s) => [s, 0]));
        const now = Date.now();
        for (const d of laptopActivity(store.db)) {
          const s = laptopStatus(d.last_backup_at, d.disabled === 1, now, config).status;
          n.set(s, (n.get(s) ?? 0) + 1);
        }
        for (const [status, v] of n) this.set({ status }, v);
      },
    });
    new Gauge({
      name: 'ds_backup_laptop_last_backup_timestamp_seconds',
      help: 'Time of the last successful backup of each laptop that ever backed up.',
      labelNames: ['serial'],
      registers,
      collect() {
        this.reset();
        for (const d of laptopActivity(store.db))
          if (d.last_backup_at !== null) this.set({ serial: d.serial }, d.last_backup_at / 1000);
      },
    });

    new Counter({
      name: 'ds_backup_damaged_reads_total',
      help: 'Reads refused because a pool object did not hash to its name (store/verified-reads.ts).',
      registers,
      collect() {
        this.reset();
        this.inc(store.damage.reads);
      },
    });
    new Gauge({
      name: 'ds_backup_damaged_flagged_objects',
      help: 'Pool objects reads found damaged that verify has not cleared (<root>/run/damaged/).',
      registers,
      collect() {
        this.set(store.damage.flags().length);
      },
    });

    const lastRun = () => cleanupRuns(store.db, 1)[0];
    const lastReport = () => {
      const r = lastRun();
      return r ? (JSON.parse(r.json) as { seconds: number; verify: { damaged: unknown[] } | null }) : null;
    };
    new Gauge({
      name: 'ds_backup_cleanup_last_success_timestamp_seconds',
      help: 'When the last cleanup run (not a dry run) finished.',
      registers,
      collect() {
        this.reset();
        const r = lastRun();
        if (r) this.set(r.finished_at / 1000);
      },
    });
    new Gauge({
      name: 'ds_backup_cleanup_last_duration_seconds',
      help: 'How long the last cleanup run took.',
      registers,
      collect() {
        this.reset();
        const r = lastReport();
        if (r) this.set(r.seconds);
      },
    });
    new Gauge({
      name: 'ds_backup_cleanup_last_freed_bytes',
      help: 'Bytes the last cleanup run freed.',
      registers,
      collect() {
        this.reset();
        const r = lastRun();
        if (r) this.set(r.bytes_freed);
      },
    });
    new Counter({
      name: 'ds_backup_cleanup_runs_total',
      help: 'Cleanup runs recorded in the catalog (not dry runs).',
      registers,
      collect() {
        this.reset();
        this.inc(cleanupTotals(store.db).runs);
      },
    });
    new Counter({
      name: 'ds_backup_cleanup_freed_bytes_total',
      help: 'Bytes freed by every recorded cleanup run.',
      registers,
      collect() {
        this.reset();
        this.inc(cleanupTotals(store.db).bytes);
      },
    });
    new Gauge({
      name: 'ds_backup_verify_damaged_objects',
      help: 'Damaged pool objects the last verify (part of the daily cleanup) found.',
      registers,
      collect() {
        this.reset();
        const v = cleanupRuns(store.db, 50)
          .map((r) => (JSON.parse(r.json) as { verify: { damaged: unknown[] } | null }).verify)
          .find((x) => x);
        if (v) this.set(v.damaged.length);
      },
    });
    new Gauge({
      name: 'ds_backup_build_info',
      help: 'Version of ds-backup-server and of Node.js (value 1).',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: packageVersion(), nodejs: process.version }, 1);
  }

  backupStarted(): void {
    this.started.inc();
  }

  backupCompleted(): void {
    this.completed.inc();
  }

  backupFailed(reason: string): void {
    this.failed.inc({ reason });
  }

  admissionAnswered(seconds: number): void {
    this.admissionLatency.observe(seconds);
  }

  leaseEnded(seconds: number, end: 'released' | 'expired' | 'replaced'): void {
    this.leaseDuration.observe({ end }, seconds);
    if (end === 'expired') this.backupFailed('lease_expired');
  }

  receivedBytes(n: number): void {
    if (n > 0) this.received.inc(n);
  }
}
