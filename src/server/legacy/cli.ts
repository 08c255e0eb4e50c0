/**
 * legacy/cli — server commands for old laptops and old servers:
 *
 *   legacy setup --root DIR [--completion-dir DIR] [--json]     Unix accounts + confined keys (root)
 *   import-legacy <old /library/users> --root DIR [--json]       old dated folders → snapshots
 *   device token <SN> --root DIR [--json]                        a native token for a legacy laptop
 */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { action, EXIT, ExitError, printJson } from '../../platform/cli-util.js';
import { canonicalSerial } from '../../protocol/names.js';
import type { ServerConfig } from '../config.js';
import { newToken } from '../accounts/registry.js';
import { openStore } from '../store/store.js';
import { importLegacy } from './import.js';
import { legacySetup } from './setup.js';

interface Opts {
  root?: string;
  config?: string;
  json?: boolean;
  completionDir?: string;
}

type ConfigFn = (opts: { root?: string; config?: string; completionDir?: string }) => ServerConfig;

const out = (s: string) => void process.stdout.write(`${s}\n`);

export function legacyCommands(program: Command, config: ConfigFn): void {
  const legacy = program.command('legacy').description('old OLPC ds-backup clients (rsync over SSH)');
  legacy
    .command('setup')
    .description(
      'as root: make a Unix account, confined SSH key and home for every laptop registered through Sugar, and the completion folder',
    )
    .option('--root <dir>', 'store folder')
    .option('--config <file>', 'JSON config file')
    .option(
      '--completion-dir <dir>',
      'completion folder (default /var/lib/ds-backup/completion, where old clients send their flag)',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Run it after laptops register (Sugar's "Register" menu), e.g. from cron; it is idempotent.
Each account is named after the serial, has no password and no shell: its key may only
rsync into datastore-current, documents, power-logs of its home and drop its flag.
Prints the completion folder; serve must watch the same one (--completion-dir).`,
    )
    .action(
      action((opts: Opts) => {
        const cfg = config({ root: opts.root, config: opts.config, completionDir: opts.completionDir });
        const store = openStore(cfg);
        try {
          const r = legacySetup(store, { completionDir: resolve(cfg.completionDir) });
          if (opts.json) printJson(r);
          else {
            for (const a of r.accounts)
              process.stderr.write(`${a.created ? 'created' : 'checked'} account ${a.user} (uid ${a.uid})\n`);
            for (const s of r.skipped) process.stderr.write(`skipped ${s.serial}: ${s.reason}\n`);
            out(r.completionDir);
          }
        } finally {
          store.close();
        }
      }),
    );

  program
    .command('import-legacy <users-dir>')
    .description(
      "import an old school server's /library/users/<SN>/datastore-YYYY-MM-DD_HH:MM folders as snapshots with their dates",
    )
    .option('--root <dir>', 'store folder')
    .option('--config <file>', 'JSON config file')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Layout 0 (2008) and layout 6 datastores are both understood. Identical files are stored once.
Running it again imports only folders not imported yet. Laptops without a record get one
(no token); Sugar's registration claims it, or issue a native token with "device token".`,
    )
    .action(
      action(async (usersDir: string, opts: Opts) => {
        if (!existsSync(usersDir))
          throw new ExitError(EXIT.usage, `${usersDir} does not exist; give the old server's /library/users folder`);
        const store = openStore(config(opts));
        const t = Date.now();
        const bar =
          process.stderr.isTTY && !opts.json
            ? new cliProgress.SingleBar(
                { format: 'import {bar} {value}/{total} {what}', stream: process.stderr },
                cliProgress.Presets.shades_classic,
              )
            : null;
        try {
          const r = await importLegacy(store, resolve(usersDir), (done, total, what) => {
            if (!bar) return;
            if (done === 0 && total) bar.start(total, 0, { what });
            else bar.update(done, { what });
          });
          bar?.stop();
          const seconds = (Date.now() - t) / 1000;
          if (opts.json) printJson({ ...r, seconds });
          else {
            out(
              `imported ${r.imported} snapshots of ${r.serials} laptops (${r.skipped} already there, ${r.devicesCreated} new laptop records), ` +
                `${r.files} files, ${r.copiedBlobs} new blobs (${(r.copiedBytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s${r.reindexed ? '; catalog reindexed' : ''}`,
            );
            for (const i of r.ignored) out(`ignored ${i}`);
            for (const e of r.errors) out(`error ${e}`);
          }
          if (r.errors.length) process.exitCode = EXIT.error;
        } finally {
          bar?.stop();
          store.close();
        }
      }),
    );

  const device = program.command('device').description('laptop records');
  device
    .command('token <serial>')
    .description(
      'issue a new native token for a laptop (e.g. one registered through Sugar) and print it once; the old token stops working',
    )
    .option('--root <dir>', 'store folder')
    .option('--config <file>', 'JSON config file')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Put the token in the laptop's <profile>/ds-backup/config.json ({"server","serial","nickname","token"}, mode 0600)
so the native agent can list and restore the laptop's backups.`,
    )
    .action(
      action((given: string, opts: Opts) => {
        const serial = canonicalSerial(given);
        if (!serial) throw new ExitError(EXIT.usage, `${given} is not a serial number`);
        const store = openStore(config(opts));
        try {
          const rec = store.registry.readRecord(serial);
          if (!rec) throw new ExitError(EXIT.error, `no laptop ${serial} on this server`);
          const { token, hash } = newToken(serial);
          store.registry.writeRecord({ ...rec, tokenHash: hash });
          store.registry.index({ ...rec, tokenHash: hash });
          if (opts.json) printJson({ serial, token });
          else out(token);
        } finally {
          store.close();
        }
      }),
    );
}
