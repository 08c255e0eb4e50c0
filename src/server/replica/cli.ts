/**
 * replica cli — `replicate`, `rebuild` and `replica key` of ds-backup-server.
 * The replica (s3://bucket/prefix) comes from --replica or the config key
 * `replica`; the key from $DSB_REPLICA_KEY, config `replicaKey` or
 * <root>/replica-key; endpoint and credentials from AWS_* or config `s3` —
 * never from the command line.
 */
import type { Command } from 'commander';
import { action, EXIT, intOption, printJson } from '../../platform/cli-util.js';
import { AppError } from '../../platform/errors.js';
import type { ServerConfig } from '../config.js';
import { keyOrNew, recoverySheet } from './key.js';
import { rebuild } from './rebuild.js';
import { replicate } from './replicate.js';
import { verifyReplica } from './verify.js';

interface Opts {
  root?: string;
  config?: string;
  json?: boolean;
  replica?: string;
  concurrency?: number;
}

type ConfigOf = (o: Opts) => ServerConfig;

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
    .option('--concurrency <n>', 'uploads in flight (default 12)', intOption(1, 256))
    .option('--json', 'print a summary as JSON (objects, bytes, requests, seconds)')
    .action(
      action(async (o: Opts) => {
        const cfg = config({ root: o.root, config: o.config });
        const tty = !o.json && process.stderr.isTTY;
        const r = await replicate({
          root: cfg.root,
          replica: replicaOf(cfg, o),
          replicaKey: cfg.replicaKey || undefined,
          s3: cfg.s3,
          concurrency: o.concurrency,
          progress: tty
            ? (p) => process.stderr.write(`\r${p.done}/${p.total} objects, ${(p.bytes / 1048576).toFixed(1)} MiB `)
            : undefined,
        });
        if (tty) process.stderr.write('\n');
        if (o.json) printJson(r);
        else
          process.stdout.write(
            `replicated to ${r.replica}: ${r.objects} objects and ${r.records} records sent, ` +
              `${r.bytes} bytes, ${r.requests} requests, ${r.seconds.toFixed(1)} s` +
              (r.keyCreated
                ? `\nnew replica key kept in the root: print it with 'ds-backup-server replica key' and store it off the server\n`
                : '\n'),
          );
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
