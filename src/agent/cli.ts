/**
 * ds-backup — the laptop agent's command line.
 *
 *   register   get a token from the school server (once)
 *   backup     back up the Journal (and Documents) now
 *   list       the backups the server keeps for this laptop
 *   restore    bring back everything, or one Journal entry
 *   pin, unpin, pins   keep a backup or one entry version beyond the server's cleanup
 *
 * Exit codes: 0 ok · 1 error · 2 usage · 3 not registered · 4 server busy.
 */
import { Command } from 'commander';
import { action, configureProgram, EXIT, ExitError, printJson } from '../common/cli-util.js';
import { isSerial } from '../common/names.js';
import { backup } from './backup.js';
import { ApiClient } from './client.js';
import { detectSerial, Profile } from './profile.js';
import { progressBar } from './progress.js';
import { listSnapshots } from './remote.js';
import { restoreAll, restoreEntry } from './restore.js';
import { addPinCommands } from './pin-cli.js';

const say = (s: string): void => void process.stderr.write(`${s}\n`);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

const program = configureProgram(new Command('ds-backup'))
  .description('Back up this laptop\'s Sugar Journal to the school server, and restore it')
  .version('0.1.0')
  .enablePositionalOptions()
  .addHelpText('after', `
Examples:
  ds-backup register --server http://schoolserver:8080 --nickname Ana
  ds-backup backup
  ds-backup list
  ds-backup restore --all --to /tmp/out
  ds-backup restore --entry 00dc55d6-dd41-4007-ac0b-6e052ee7f8c0 --xoj --to /tmp/out

The profile is ~/.sugar/default (or --profile DIR, whose datastore/ is the Journal).
Exit codes: 0 ok, 1 error, 2 usage, 3 not registered, 4 server busy.`);

program
  .command('register')
  .description('register this laptop with the school server and keep its token (0600)')
  .requiredOption('--server <url>', 'school server, e.g. http://schoolserver:8080')
  .option('--serial <sn>', 'serial number (default: the laptop\'s own, from firmware or the profile)')
  .option('--nickname <name>', 'the owner\'s name as Sugar knows it', '')
  .option('--profile <dir>', 'Sugar profile folder (default ~/.sugar/default)')
  .option('--json', 'print the result as JSON')
  .action(action(async (o: { server: string; serial?: string; nickname: string; profile?: string; json?: boolean }) => {
    const profile = new Profile(o.profile);
    const serial = o.serial ?? detectSerial(profile);
    if (!serial) throw new ExitError(EXIT.usage, 'could not find this laptop\'s serial number; give it with --serial SN');
    if (!isSerial(serial)) throw new ExitError(EXIT.usage, `--serial ${serial} is not a serial number (3–32 letters and digits)`);
    const prev = profile.readConfig();
    const client = new ApiClient(o.server);
    try {
      const presented = prev && prev.serial === serial ? prev.token : null;
      const r = await client.json<{ token: string; created: boolean; nickname: string }>('POST', '/api/v1/devices', { json: { serial, nickname: o.nickname }, token: presented });
      profile.writeConfig({ server: o.server.replace(/\/$/, ''), serial, nickname: r.nickname, token: r.token });
      if (o.json) printJson({ serial, server: o.server, created: r.created, profile: profile.dir });
      else say(`${r.created ? 'registered' : 're-registered'} ${serial} with ${o.server}; token saved in ${profile.stateDir}/config.json`);
    } finally {
      await client.close();
    }
  }));

program
  .command('backup')
  .description('back up the Journal (and the Documents folder) now')
  .option('--profile <dir>', 'Sugar profile folder (default ~/.sugar/default)')
  .option('--documents <dir>', 'Documents folder to back up (default: XDG Documents, or <profile>/Documents with --profile)')
  .option('--json', 'print the result as JSON')
  .action(action(async (o: { profile?: string; documents?: string; json?: boolean }) => {
    const bar = progressBar('uploading', !o.json);
    const r = await backup({
      profile: new Profile(o.profile),
      documents: o.documents,
      onStage: o.json || !process.stderr.isTTY ? undefined : (s) => say(s),
      onUploadStart: (t) => bar.start(t),
      onProgress: (n) => bar.add(n),
    }).finally(() => bar.stop());
    if (o.json) return printJson(r);
    for (const w of r.warnings) say(`warning: ${w}`);
    say(`backed up ${r.files} files (${mb(r.bytes)}) in ${r.seconds.toFixed(1)} s: ${r.uploadedBlobs} new files sent (${mb(r.sentBytes)} on the wire)`);
    for (const s of r.snapshots) say(`  ${s.name}`);
  }));

program
  .command('list')
  .description('list the backups (snapshots) the server keeps for this laptop')
  .option('--profile <dir>', 'Sugar profile folder')
  .option('--json', 'print as JSON')
  .action(action(async (o: { profile?: string; json?: boolean }) => {
    const cfg = new Profile(o.profile).requireConfig();
    const client = new ApiClient(cfg.server, cfg.token);
    try {
      const r = await listSnapshots(client);
      if (o.json) return printJson(r);
      if (!r.snapshots.length) return say('no backups yet');
      for (const s of r.snapshots) {
        process.stdout.write(`${s.name.padEnd(34)} ${new Date(s.createdAt).toISOString().slice(0, 19).replace('T', ' ')}  ${String(s.files).padStart(7)} files  ${mb(s.bytes).padStart(10)}${s.serial !== cfg.serial ? `  (from ${s.serial})` : ''}\n`);
      }
    } finally {
      await client.close();
    }
  }));

program
  .command('restore')
  .description('restore everything (--all) or one Journal entry (--entry UID)')
  .option('--profile <dir>', 'Sugar profile folder')
  .option('--all', 'restore every source of the snapshot')
  .option('--entry <uid>', 'restore one Journal entry')
  .option('--snapshot <name>', 'which backup, e.g. datastore-2026-11-26_06:26 (default: the latest)')
  .option('--to <dir>', 'write into DIR/<source> instead of back into this laptop\'s Journal')
  .option('--xoj', 'with --entry: write a Journal Entry Bundle (.xoj) instead of an entry folder')
  .option('--version <v>', 'with --entry: a pinned version of the entry (see: ds-backup pins), even if no backup holds it any more')
  .option('--force', 'overwrite local files newer than the backup')
  .option('--documents <dir>', 'Documents folder to restore into (without --to)')
  .option('--json', 'print the result as JSON')
  .action(action(async (o: { profile?: string; all?: boolean; entry?: string; snapshot?: string; to?: string; xoj?: boolean; force?: boolean; documents?: string; json?: boolean; version?: string }) => {
    if (Boolean(o.all) === Boolean(o.entry)) throw new ExitError(EXIT.usage, 'say what to restore: --all or --entry UID');
    if (o.xoj && !o.entry) throw new ExitError(EXIT.usage, '--xoj goes with --entry UID');
    if (o.version && !o.entry) throw new ExitError(EXIT.usage, '--version goes with --entry UID');
    const profile = new Profile(o.profile);
    if (o.entry) {
      const r = await restoreEntry({ profile, uid: o.entry, snapshot: o.snapshot, to: o.to, xoj: o.xoj, force: o.force, version: o.version });
      if (o.json) return printJson(r);
      return say(`restored "${r.title}" (${r.uid}) from ${r.snapshot} to ${r.path}`);
    }
    const bar = progressBar('restoring', !o.json);
    const r = await restoreAll({ profile, snapshot: o.snapshot, to: o.to, force: o.force, documents: o.documents, onStart: (t) => bar.start(t), onProgress: (n) => bar.add(n) }).finally(() => bar.stop());
    if (o.json) return printJson(r);
    for (const x of r.restored) {
      say(`${x.snapshot} → ${x.dest}: ${x.written} files written, ${x.skipped} already right${x.keptNewer ? `, ${x.keptNewer} newer local files kept (use --force)` : ''}`);
    }
  }));

addPinCommands(program);

await program.parseAsync(process.argv);
