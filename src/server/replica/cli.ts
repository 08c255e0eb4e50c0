/**
 * replica cli — `replicate`, `rebuild` and `replica key` of ds-backup-server.
 * The replica (s3://bucket/prefix) comes from --replica or the config key
 * `replica`; the key from $DSB_REPLICA_KEY, config `replicaKey` or
 * <root>/replica-key; endpoint and credentials from AWS_* or config `s3` —
 * never from the command line.
 */
import type { Command } from 'commander';
import { action, EXIT, ExitError, intOption, printJson } from '../../platform/cli-util.js';
import { AppError } from '../../platform/errors.js';
import type { ServerConfig } from '../config.js';
import { keyOrNew, recoverySheet } from './key.js';
import { rebuild } from './rebuild.js';
import { replicate, type ReplicateResult } from './replicate.js';
import { parseBandwidth, parseWindow, windowAt } from './policy.js';
import { verifyReplica } from './verify.js';

interface Opts {
  root?: string;
  config?: string;
  json?: boolean;
  replica?: string;
  concurrency?: number;
}

type ConfigOf = (o: Opts) => ServerConfig;

/** What every replicate run takes from the config (the daily job's too). */
export function replicaSettings(cfg: ServerConfig, o: Opts = {}) {
  return {
    root: cfg.root,
    replica: replicaOf(cfg, o),
    replicaKey: cfg.replicaKey || undefined,
    s3: cfg.s3,
    concurrency: o.concurrency,
    deleteGraceDays: cfg.replicaDeleteGraceDays,
  };
}

/** --at TIME: a clock that starts at TIME and runs on; none: the real clock. */
function clockAt(at: string | undefined): () => number {
  if (at === undefined) return Date.now;
  const t = Date.parse(at);
  if (!Number.isFinite(t)) throw new ExitError(EXIT.usage, `--at ${at} is not a time; use e.g. 2027-06-01T23:00:00`);
  const t0 = Date.now();
  return () => t + (Date.now() - t0);
}

export function replicateText(r: ReplicateResult): string {
  return (
    `${r.stopped ? `stopped (${r.stopped}; the next run resumes)` : 'replicated'} to ${r.replica}: ` +
    `${r.objects} objects and ${r.records} records sent, ${r.bytes} bytes, ${r.requests} requests, ` +
    `${r.seconds.toFixed(1)} s` +
    (r.deleted || r.graceHeld
      ? `; ${r.deleted} removed records deleted off-site, ${r.graceHeld} kept for the grace`
      : '') +
    (r.keyCreated
      ? `\nnew replica key kept in the root: print it with 'ds-backup-server replica key' and store it off the server\n`
      : '\n')
  );
}

function replicaOf(cfg: ServerConfig, o: Opts): string {
  const r = o.replica ?? cfg.replica;
  if (!r) throw new AppError('bad_request', 'no replica: give --replica s3://bucket/prefix or set config replica');
  return r;
}

export function addReplicaCommands(program: Command, config: ConfigOf): void {
  program
    .command('replicate')
    .description('copy the store, encrypted, to its off-site replica (sends only what is new)')
    .option('--root <dir>', 'store folder')
    .option('--config <file>', 'JSON config file')
    .option('--replica <s3url>', 's3://bucket/prefix (default: config replica)')
    .option('--now', 'run even outside the replication window (config replicaWindow, default 22:00-06:00)')
    .option('--bandwidth <rate>', 'upload cap, e.g. 2MB/s or 0 for none (default: config replicaBandwidth, 1MB/s)')
    .option('--at <time>', 'decide as if it were this time (ISO 8601; for simulations and tests)')
    .option('--concurrency <n>', 'uploads in flight (default 12)', intOption(1, 256))
    .option('--json', 'print a summary as JSON (objects, bytes, requests, seconds)')
    .addHelpText(
      'after',
      `
Runs only inside the window (replicaWindow, local time; "always" for any time) unless
--now; a run still going when the window closes stops cleanly and the next run resumes.
Records removed locally are deleted off-site after replicaDeleteGraceDays (30) days.
Exit codes: 0 done, stopped at the window's end, or outside the window; 1 error; 5 another
replicate is running on this store.`,
    )
    .action(
      action(async (o: Opts & { now?: boolean; bandwidth?: string; at?: string }) => {
        const cfg = config({ root: o.root, config: o.config });
        const clock = clockAt(o.at);
        const window = windowAt(parseWindow(cfg.replicaWindow), clock());
        if (!window.open && !o.now) {
          if (o.json) printJson({ skipped: window.reason });
          else process.stdout.write(`skipped: ${window.reason}; use --now to run anyway\n`);
          return;
        }
        const tty = !o.json && process.stderr.isTTY;
        const r = await replicate({
          ...replicaSettings(cfg, o),
          bandwidth: parseBandwidth(o.bandwidth ?? cfg.replicaBandwidth),
          deadline: o.now ? undefined : window.closesAt,
          clock,
          progress: tty
            ? (p) => process.stderr.write(`\r${p.done}/${p.total} objects, ${(p.bytes / 1048576).toFixed(1)} MiB `)
            : undefined,
        }).catch((e: Error & { code?: string }) => {
          if (e.code === 'conflict') throw new ExitError(EXIT.locked, e.message);
          throw e;
        });
        if (tty) process.stderr.write('\n');
        if (o.json) printJson(r);
        else process.stdout.write(replicateText(r));
      }),
    );

  program
    .command('rebuild')
    .description('bring a school back from its replica onto an empty folder (key in DSB_REPLICA_KEY)')
    .requiredOption('--root <dir>', 'the new, empty store folder')
    .option('--config <file>', 'JSON config file')
    .option('--replica <s3url>', 's3://bucket/prefix (default: config replica)')
    .option('--concurrency <n>', 'downloads in flight (default 12)', intOption(1, 256))
    .option('--json', 'print a summary as JSON')
    .action(
      action(async (o: Opts) => {
        const cfg = config({ root: o.root, config: o.config });
        const r = await rebuild({
          root: cfg.root,
          replica: replicaOf(cfg, o),
          replicaKey: cfg.replicaKey || undefined,
          s3: cfg.s3,
          concurrency: o.concurrency,
        });
        if (o.json) printJson(r);
        else
          process.stdout.write(
            `rebuilt ${r.devices} laptops, ${r.snapshots} snapshots (${r.trees} trees, ${r.blobs} blobs, ${r.bytes} bytes) in ${r.seconds.toFixed(1)} s\n`,
          );
      }),
    );

  const replica = program.command('replica').description('the off-site replica');
  replica
    .command('key')
    .description('print the replica key as a recovery sheet (made now if there is none)')
    .option('--root <dir>', 'store folder')
    .option('--config <file>', 'JSON config file')
    .option('--replica <s3url>', 's3://bucket/prefix (default: config replica)')
    .action(
      action((o: Opts) => {
        const cfg = config({ root: o.root, config: o.config });
        const k = keyOrNew(cfg.root, cfg.replicaKey || undefined);
        process.stdout.write(recoverySheet(k, o.replica ?? cfg.replica));
      }),
    );
}

/** `verify --replica`: prints the sample's result; exit 1 when anything is damaged. */
export async function verifyReplicaCommand(
  cfg: ServerConfig,
  replica: string | true,
  samplePct: number,
  json: boolean,
): Promise<void> {
  const v = await verifyReplica({
    root: cfg.root,
    replica: replicaOf(cfg, { replica: replica === true ? undefined : replica }),
    replicaKey: cfg.replicaKey || undefined,
    s3: cfg.s3,
    samplePct,
  });
  if (json) printJson(v);
  else {
    process.stdout.write(
      `replica ${v.replica}: ${v.checked} objects checked (${v.samplePct}% sample, ${v.bytes} bytes), ${v.damaged.length} damaged\n`,
    );
    for (const d of v.damaged) process.stdout.write(`damaged: ${d.what}: ${d.problem}\n`);
  }
  if (v.damaged.length) process.exitCode = EXIT.error;
}
