/**
 * cleanup-cli — the `cleanup` and `verify` commands of ds-backup-server and
 * the daily job inside `serve`; what they print.
 */
import { setPriority } from 'node:os';
import type { Command } from 'commander';
import type { FastifyBaseLogger } from 'fastify';
import { action, EXIT, ExitError, intOption, printJson } from '../../platform/cli-util.js';
import { DEFAULT_CLEANUP, type CleanupPolicy, type CleanupReport } from '../retention/cleanup.js';
import { attemptCleanup, scheduleCleanup } from '../retention/cleanup-job.js';
import type { ServerConfig } from '../config.js';
import type { ServerContext } from '../http/context.js';
import { fmt } from '../retention/quota.js';
import { openStore } from '../store/store.js';
import { verifyStore, type VerifyResult } from '../retention/verify.js';
import { verifyReplicaCommand } from '../replica/cli.js';

export function policyOf(cfg: ServerConfig): CleanupPolicy {
  return {
    ...DEFAULT_CLEANUP,
    keepDays: cfg.keepDays,
    softQuotaPct: cfg.softQuotaPct,
    maxRounds: cfg.quotaRounds,
    accountCapBytes: cfg.accountCapBytes,
    autoPinStarred: cfg.autoPinStarred,
    verifySamplePct: cfg.verifySamplePct,
    partExpiryDays: cfg.partExpiryDays,
  };
}

export function summary(r: CleanupReport): string {
  const lines = [
    `${r.dryRun ? 'dry run: would remove' : 'removed'} ${r.snapshots.removed} of ${r.snapshots.before} snapshots; ${r.dryRun ? 'would free' : 'freed'} ${fmt(r.bytesFreed)} (${r.objectsFreed} objects) in ${r.seconds.toFixed(1)} s`,
    `kept: ${
      Object.entries(r.kept)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') || 'none'
    }; pins: ${r.pins.total} (${r.pins.added} starred entries pinned, ${r.pins.dropped} auto pins dropped)`,
  ];
  if (r.uploads.expired || r.uploads.kept)
    lines.push(
      `abandoned uploads: ${r.dryRun ? 'would remove' : 'removed'} ${r.uploads.expired} (${fmt(r.uploads.bytes)}), ${r.uploads.kept} kept`,
    );
  if (r.quota?.overQuota || r.quota?.rounds)
    lines.push(`soft quota: share ${fmt(r.quota.share)}, ${r.quota.rounds} rounds`);
  for (const n of r.quota?.notes ?? []) lines.push(`note: ${n}`);
  for (const p of r.problems) lines.push(`problem: ${p}`);
  for (const s of r.removed) lines.push(`  ${r.dryRun ? 'would remove' : 'removed'} ${s.serial}/${s.name}: ${s.why}`);
  if (r.verify)
    lines.push(
      `verify: ${r.verify.blobs} blobs, ${r.verify.trees} trees checked (${r.verify.samplePct}% sample), ${r.verify.damaged.length} damaged`,
    );
  for (const d of r.verify?.damaged ?? [])
    lines.push(`  DAMAGED ${d.kind} ${d.id}: ${d.problem}; affects ${d.snapshots.join(', ') || 'no snapshot'}`);
  return lines.join('\n') + '\n';
}

function verifyText(v: VerifyResult): string {
  const lines = [
    `checked ${v.blobs} blobs and ${v.trees} trees (${fmt(v.bytes)}, ${v.samplePct}% sample) in ${v.seconds.toFixed(1)} s: ${v.damaged.length} damaged`,
  ];
  for (const d of v.damaged) {
    lines.push(`DAMAGED ${d.kind} ${d.id}: ${d.problem}`);
    for (const s of d.snapshots) lines.push(`  snapshot ${s}`);
    for (const e of d.entries) lines.push(`  entry ${e.uid} "${e.title}" version ${e.version.slice(0, 12)}`);
  }
  return lines.join('\n') + '\n';
}

type Opts = { root?: string; store?: string; config?: string; json?: boolean };

export function addCleanupCommands(program: Command, config: (o: Opts) => ServerConfig): void {
  program
    .command('cleanup')
    .description(
      'the daily cleanup now: pin starred entries, thin old snapshots, apply the soft quota, delete unreferenced data, verify a sample',
    )
    .option('--root <dir>', 'store folder')
    .option(
      '--store <url>',
      's3://bucket/prefix: pool, trees and snapshot records in a bucket (default: under the root)',
    )
    .option('--config <file>', 'JSON config file')
    .option('--dry-run', 'decide and explain everything, delete nothing')
    .option('--force', "run even if today's run is done or the load is high")
    .option(
      '--full-gc',
      'look at every stored object for garbage (done weekly anyway), not only what accounts just stopped referencing',
    )
    .option('--now <time>', 'decide as if it were this time (ISO 8601; for simulations and tests)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Rules: every snapshot younger than keepDays (90) is kept; older ones keep the first
of each month; a source's latest and pinned snapshots are never removed. Above the
soft quota (softQuotaPct 70 % of blocks or inodes) accounts above an equal share lose
their oldest snapshots, round after round (quotaRounds 10). Settings: config file.
Safe while 'serve' runs on the same root (in-flight backups keep their data).
Exit codes: 0 ran (or skipped: already done today / load high), 1 error, 2 usage,
5 another cleanup holds the store's lock.`,
    )
    .action(
      action(async (o: Opts & { dryRun?: boolean; force?: boolean; now?: string; fullGc?: boolean }) => {
        const cfg = config(o);
        const now = o.now === undefined ? undefined : Date.parse(o.now);
        if (now !== undefined && !Number.isFinite(now))
          throw new ExitError(EXIT.usage, `--now ${o.now} is not a time; use e.g. 2027-06-01T12:00:00Z`);
        try {
          setPriority(19);
        } catch {
          /* any refusal (EACCES, a container's limits): run at normal priority */
        }
        const store = openStore(cfg);
        try {
          const out = await attemptCleanup(store, policyOf(cfg), {
            dryRun: o.dryRun,
            force: o.force,
            loadLimit: cfg.loadLimit,
            now,
            fullGc: o.fullGc,
          }).catch((e: Error & { code?: string }) => {
            if (e.code === 'conflict') throw new ExitError(EXIT.locked, e.message);
            throw e;
          });
          if (o.json) printJson(out.ran ? out.report : { skipped: out.reason });
          else
            process.stdout.write(
              out.ran ? summary(out.report) : `skipped: ${out.reason} (use --force to run anyway)\n`,
            );
        } finally {
          store.close();
        }
      }),
    );

  program
    .command('verify')
    .description(
      're-hash pool blobs and trees; report every damaged one and the snapshots and Journal entries it affects',
    )
    .option('--root <dir>', 'store folder')
    .option(
      '--store <url>',
      's3://bucket/prefix: pool, trees and snapshot records in a bucket (default: under the root)',
    )
    .option('--config <file>', 'JSON config file')
    .option('--sample <pct>', 'check only this % of objects, chosen at random (default 100)', intOption(0, 100))
    .option('--replica [s3url]', 'check the off-site replica instead (default: config replica)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes: 0 nothing damaged, 1 damage found or error, 2 usage.')
    .action(
      action(async (o: Opts & { sample?: number; replica?: string | true }) => {
        if (o.replica) return verifyReplicaCommand(config(o), o.replica, o.sample ?? 100, !!o.json);
        const store = openStore(config(o));
        try {
          const v = await verifyStore(store, { samplePct: o.sample ?? 100 });
          if (o.json) printJson(v);
          else process.stdout.write(verifyText(v));
          if (v.damaged.length) process.exitCode = EXIT.error;
        } finally {
          store.close();
        }
      }),
    );
}

/** Starts the daily job inside `serve`. */
export function startDailyCleanup(ctx: ServerContext, log: FastifyBaseLogger): () => void {
  return scheduleCleanup(async () => {
    try {
      const out = await attemptCleanup(ctx.store, policyOf(ctx.config), {
        loadLimit: ctx.config.loadLimit,
        leaseGrants: () => ctx.admission.active().map((l) => l.grantedAt),
        leaseSerials: () => ctx.admission.active().map((l) => l.serial),
      });
      if (out.ran) log.info({ cleanup: { ...out.report, accounts: out.report.accounts.length } }, 'daily cleanup done');
      else log.debug({ reason: out.reason }, 'daily cleanup skipped');
    } catch (e) {
      log.warn({ err: e }, 'daily cleanup failed');
    }
  });
}
