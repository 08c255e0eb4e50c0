/**
 * ds-backup-server — the school server's command line.
 *
 *   serve      run the HTTP server (backups, restore)
 *   reindex    rebuild catalog.sqlite from the disk
 *   cleanup    the daily cleanup now (thinning, quota, GC); verify: re-hash the pool
 *   replicate  the encrypted off-site copy (replica/); rebuild: a school back from it
 *
 * Every command takes --root DIR (default /library or the config file's).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { API } from '../../protocol/api.js';
import { action, configureProgram, intOption, printJson } from '../../platform/cli-util.js';
import { buildServer } from '../http/app.js';
import { configPath, loadConfig, type ServerConfig } from '../config.js';
import { reindex, syncMissing } from '../catalog/reindex.js';
import { canonicalizeFolders } from '../store/serial-folders.js';
import { openStore } from '../store/store.js';
import { legacyCommands } from '../legacy/cli.js';
import { startLegacy } from '../legacy/serve.js';
import { addCleanupCommands, startDailyCleanup } from './cleanup-cli.js';
import { addReplicaCommands } from '../replica/cli.js';
import { startDailyReplica } from '../replica/daily.js';

interface CommonOpts {
  root?: string;
  store?: string;
  config?: string;
  json?: boolean;
}

function config(opts: CommonOpts & Partial<ServerConfig>): ServerConfig {
  const { config: file, json: _json, ...rest } = opts;
  return loadConfig(configPath(file), rest);
}

const program = configureProgram(new Command('ds-backup-server'))
  .description('ds-backup school server: receives laptop backups, keeps dated snapshots, serves restores')
  .version('0.1.0')
  .addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 error (verify: damage found), 2 usage, 5 another cleanup holds the lock.
Quick start: ds-backup-server serve --root ./var --port 8080`,
  );

program
  .command('serve')
  .description('run the server (backup protocol, restore API)')
  .option('--root <dir>', "store folder (default /library, or the config file's)")
  .option('--store <url>', 's3://bucket/prefix: pool, trees and snapshot records in a bucket (default: under the root)')
  .option('--config <file>', 'JSON config file (default /etc/ds-backup/server.json if present)')
  .option('--host <host>', 'address to listen on (default 0.0.0.0)')
  .option('--port <n>', 'port to listen on (default 8080)', intOption(0, 65535))
  .option('--max-concurrent <n>', 'backups allowed at once (default 10)', intOption(1, 10000))
  .option('--lease-timeout <seconds>', 'a silent client loses its slot after this (default 120)', intOption(1, 86400))
  .option('--load-limit <x>', 'refuse backups above this 1-minute load average (default 5)', intOption(0, 1000))
  .option(
    '--disk-limit <pct>',
    'refuse backups above this % of disk blocks or inodes used (default 90)',
    intOption(1, 100),
  )
  .option(
    '--bandwidth <bytes_per_s>',
    'cap all backup uploads together at this many bytes per second (default 0 = no cap)',
    intOption(0),
  )
  .option('--log-level <level>', 'pino log level (default info)')
  .option('--json', 'print the listening address as one JSON line')
  .option(
    '--legacy-registration-port <n>',
    "also serve Sugar's XML-RPC registration (POST /) on this port; old laptops call 8080 (default off)",
    intOption(1, 65535),
  )
  .option(
    '--completion-dir <dir>',
    'folder old laptops drop their completion flag in (default /var/lib/ds-backup/completion)',
  )
  .option(
    '--public-host <name>',
    "host name laptops use for this server, sent to old laptops as SN@host:backup (default: the request's Host)",
  )
  .option(
    '--legacy-auto-setup',
    "as root: make an old laptop's Unix account right when it registers (else run legacy setup yourself)",
  )
  .option(
    '--legacy-lease <seconds>',
    'how long a slot granted by /backup/1/available is held for an old laptop (default 1800)',
    intOption(60, 86400),
  )
  .option('--dav-allow-http', 'WebDAV (/dav/): accept sign-in over plain HTTP, for a LAN without TLS')
  .option('--metrics-token <token>', 'GET /metrics: also accept this Bearer token (besides admin tokens)')
  .option(
    '--legacy-start <seconds>',
    "how long such a slot waits for the laptop's rsync session before it is given back (default 120)",
    intOption(10, 3600),
  )
  .action(
    action(
      async (
        opts: CommonOpts & {
          davAllowHttp?: boolean;
          metricsToken?: string;
          port?: number;
          host?: string;
          maxConcurrent?: number;
          leaseTimeout?: number;
          loadLimit?: number;
          diskLimit?: number;
          logLevel?: string;
          legacyRegistrationPort?: number;
          completionDir?: string;
          publicHost?: string;
          legacyLease?: number;
          legacyStart?: number;
          legacyAutoSetup?: boolean;
          json?: boolean;
          bandwidth?: number;
        },
      ) => {
        const cfg = config({
          root: opts.root,
          store: opts.store,
          config: opts.config,
          host: opts.host,
          port: opts.port,
          maxConcurrent: opts.maxConcurrent,
          leaseTimeoutSec: opts.leaseTimeout,
          loadLimit: opts.loadLimit,
          diskLimitPct: opts.diskLimit,
          bandwidth: opts.bandwidth,
          logLevel: opts.logLevel,
          legacyRegistrationPort: opts.legacyRegistrationPort,
          completionDir: opts.completionDir,
          publicHost: opts.publicHost,
          legacyLeaseSec: opts.legacyLease,
          legacyStartSec: opts.legacyStart,
          legacyAutoSetup: opts.legacyAutoSetup,
          davAllowHttp: opts.davAllowHttp,
          metricsToken: opts.metricsToken,
        });
        const { app, ctx } = buildServer(cfg);
        const recovered = await syncMissing(ctx.store);
        if (recovered) app.log.info({ recovered }, 'indexed snapshots left unindexed by a crash');
        const address = await app.listen({ port: cfg.port, host: cfg.host });
        const legacy = await startLegacy({ app, ctx });
        const url = address.replace('0.0.0.0', '127.0.0.1');
        if (opts.json) printJson({ url, root: ctx.store.root });
        else process.stdout.write(`ds-backup-server listening on ${url} (root ${ctx.store.root})\n`);
        const stopCleanup = cfg.dailyCleanup ? startDailyCleanup(ctx, app.log) : () => {};
        const stopReplica = cfg.dailyCleanup && cfg.replica ? startDailyReplica(cfg, app.log) : () => {};
        const stop = () => {
          stopCleanup();
          stopReplica();
          void legacy
            .close()
            .then(() => app.close())
            .then(() => process.exit(0));
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    ),
  );

program
  .command('reindex')
  .description('rebuild catalog.sqlite from pool/, trees/ and users/ (the truth on disk, or in the --store bucket)')
  .option('--root <dir>', 'store folder')
  .option('--store <url>', 's3://bucket/prefix: pool, trees and snapshot records in a bucket (default: under the root)')
  .option('--config <file>', 'JSON config file')
  .option('--json', 'print the result as JSON')
  .action(
    action(async (opts: CommonOpts) => {
      const store = openStore(config(opts));
      const t = Date.now();
      const folders = canonicalizeFolders(store.usersDir);
      const r = await reindex(store);
      store.close();
      if (opts.json) printJson({ ...r, folders, seconds: (Date.now() - t) / 1000 });
      else {
        process.stdout.write(
          `reindexed ${r.devices} laptops, ${r.snapshots} snapshots, ${r.entries} Journal entry versions in ${((Date.now() - t) / 1000).toFixed(1)} s\n`,
        );
        for (const m of folders.renamed) process.stdout.write(`renamed users/${m.from} to users/${m.to}\n`);
        for (const g of folders.collisions)
          process.stdout.write(
            `serial folders differing only by case, left alone: ${g.map((n) => `users/${n}`).join(' ')}\n`,
          );
        for (const s of r.skipped) process.stdout.write(`skipped ${s}\n`);
      }
    }),
  );

addCleanupCommands(program, config);
addReplicaCommands(program, config);

program
  .command('admin-password')
  .description("set the administrator's web password (read from stdin, or --password-file)")
  .option('--root <dir>', 'store folder')
  .option('--config <file>', 'JSON config file')
  .option('--password-file <file>', 'read the password from this file instead of stdin')
  .action(
    action(async (opts: CommonOpts & { passwordFile?: string }) => {
      const text = opts.passwordFile ? readFileSync(opts.passwordFile, 'utf8') : await readStdin();
      const store = openStore(config(opts));
      store.admin.setPassword(text.replace(/\r?\n$/, ''));
      store.close();
      process.stdout.write('admin password set\n');
    }),
  );

program
  .command('admin-token')
  .description(`create an admin API token (for GET ${API.status.url} and scripts); printed once`)
  .option('--root <dir>', 'store folder')
  .option('--config <file>', 'JSON config file')
  .action(
    action((opts: CommonOpts) => {
      const store = openStore(config(opts));
      process.stdout.write(`${store.admin.newToken()}\n`);
      store.close();
    }),
  );

legacyCommands(program, config);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

await program.parseAsync(process.argv);
