/**
 * ds-backup — the laptop agent's command line.
 *
 *   register   get a token from the school server (once)
 *   backup     back up the Journal (and Documents) now
 *   list       the backups the server keeps for this laptop
 *   restore    bring back everything, or one Journal entry
 *   run        the scheduled run a timer calls (skips when not needed)
 *   status     when the last backup succeeded, when the next is due
 *   install-timer  make `run` happen every 15 minutes (systemd or cron)
 *   uninstall  undo the school server's install script (install-cli.ts)
 *   pin, unpin, pins   keep a backup or one entry version beyond the server's cleanup
 *
 * Exit codes: 0 ok · 1 error · 2 usage · 3 not registered · 4 server busy ·
 * 5 another run holds the lock.
 */
import { Command, Option } from 'commander';
import { action, configureProgram, EXIT, ExitError, intOption, printJson } from '../../platform/cli-util.js';
import { API } from '../../protocol/api.js';
import { isSerial } from '../../protocol/names.js';
import { backup } from '../backup/backup.js';
import { ApiClient } from '../client.js';
import { detectSerial, Profile } from '../profile.js';
import { progressBar } from './progress.js';
import { listSnapshots } from '../restore/remote.js';
import { currentRestoreCode, fetchRestoreCode, openInBrowser, requestWebLink } from '../restore/web-link.js';
import { realDeps, runSettings, scheduledRun } from '../schedule/run.js';
import { backoffCaps, MAX_TRIES } from '../schedule/schedule.js';
import { agentStatus, formatStatus } from '../schedule/status.js';
import { apply, defaultInput, hasSystemd, plan } from '../schedule/timer.js';
import { join } from 'node:path';
import { addPinCommands } from './pin-cli.js';
import { AGENT_VERSION } from '../version.js';
import { addInstallCommands, enrollHeaders, keptRegistration, restoreCodeLine } from './install-cli.js';

const say = (s: string): void => void process.stderr.write(`${s}\n`);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

const program = configureProgram(new Command('ds-backup'))
  .description("Back up this laptop's Sugar Journal to the school server, and restore it")
  .version(AGENT_VERSION)
  .enablePositionalOptions()
  .addHelpText(
    'after',
    `
Examples:
  ds-backup register --server http://schoolserver:8080 --nickname Ana
  ds-backup backup
  ds-backup list
  ds-backup restore --all --to /tmp/out
  ds-backup restore --entry 00dc55d6-dd41-4007-ac0b-6e052ee7f8c0 --xoj --to /tmp/out
  ds-backup restore --web                 # pick documents in the browser, signed in already
  ds-backup register --server http://schoolserver:8080 --replaces SHF7000500 --old-restore-code 123456

The profile is ~/.sugar/default (or --profile DIR, whose datastore/ is the Journal).
Exit codes: 0 ok, 1 error, 2 usage, 3 not registered, 4 server busy, 5 another run holds the lock,\n6 server disk full.`,
  );

program
  .command('register')
  .description('register this laptop with the school server and keep its token (0600)')
  .requiredOption('--server <url>', 'school server, e.g. http://schoolserver:8080')
  .option('--serial <sn>', "serial number (default: the laptop's own, from firmware or the profile)")
  .option('--nickname <name>', "the owner's name as Sugar knows it", '')
  .option('--profile <dir>', 'Sugar profile folder (default ~/.sugar/default)')
  .option(
    '--replaces <old-serial>',
    "this laptop replaces OLD: join its account and see all its backups (needs --old-restore-code or the admin's approval)",
  )
  .option('--old-restore-code <code>', "with --replaces: the old laptop's restore code (ds-backup status shows it)")
  .addOption(new Option('--old-pin <code>', 'the old name of --old-restore-code').hideHelp())
  .option('--enroll-key <key>', "the school's enrollment key, when its server requires one (default $DSB_ENROLL_KEY)")
  .option('--if-needed', 'keep a registration with this server and serial that still works (change nothing)')
  .option('--json', 'print the result as JSON')
  .action(
    action(
      async (o: {
        server: string;
        serial?: string;
        nickname: string;
        profile?: string;
        replaces?: string;
        oldRestoreCode?: string;
        oldPin?: string;
        enrollKey?: string;
        ifNeeded?: boolean;
        json?: boolean;
      }) => {
        const profile = new Profile(o.profile);
        const serial = o.serial ?? detectSerial(profile);
        if (!serial)
          throw new ExitError(EXIT.usage, "could not find this laptop's serial number; give it with --serial SN");
        if (!isSerial(serial))
          throw new ExitError(EXIT.usage, `--serial ${serial} is not a serial number (3–32 letters and digits)`);
        const headers = enrollHeaders(o.enrollKey);
        const kept = o.ifNeeded ? await keptRegistration(profile, o.server, serial) : null;
        if (kept) {
          if (o.json) return printJson({ serial, server: o.server, created: false, kept: true, profile: profile.dir });
          say(`already registered ${serial} with ${kept.server}; nothing changed`);
          return say(restoreCodeLine(kept.server, kept.restoreCode));
        }
        const prev = profile.readConfig();
        const client = new ApiClient(o.server);
        try {
          const presented = prev && prev.serial === serial ? prev.token : null;
          const oldCode = o.oldRestoreCode ?? o.oldPin;
          if (oldCode && !o.replaces)
            throw new ExitError(EXIT.usage, '--old-restore-code goes with --replaces OLD-SERIAL');
          const replace = o.replaces
            ? { replaces: o.replaces.toUpperCase(), ...(oldCode ? { restoreCode: oldCode } : {}) }
            : {};
          const r = await client.call(
            API.register,
            {},
            { json: { serial, nickname: o.nickname, ...replace }, token: presented, headers },
          );
          // an older server has no restore-code endpoint: registration still succeeds, `status` fetches it later
          const restoreCode = await fetchRestoreCode(client, r.token).catch(() => undefined);
          profile.writeConfig({
            server: o.server.replace(/\/$/, ''),
            serial,
            nickname: r.nickname,
            token: r.token,
            ...(restoreCode ? { restoreCode } : {}),
          });
          if (o.json) printJson({ serial, server: o.server, created: r.created, profile: profile.dir });
          else {
            say(
              `${r.created ? 'registered' : 're-registered'} ${serial} with ${o.server}; token saved in ${profile.stateDir}/config.json`,
            );
            say(restoreCodeLine(o.server, restoreCode));
          }
        } finally {
          await client.close();
        }
      },
    ),
  );

program
  .command('backup')
  .description('back up the Journal (and the Documents folder) now')
  .option('--profile <dir>', 'Sugar profile folder (default ~/.sugar/default)')
  .option(
    '--documents <dir>',
    'Documents folder to back up (default: XDG Documents, or <profile>/Documents with --profile)',
  )
  .option('--json', 'print the result as JSON')
  .action(
    action(async (o: { profile?: string; documents?: string; json?: boolean }) => {
      const bar = progressBar('sending', !o.json);
      const r = await backup({
        profile: new Profile(o.profile),
        documents: o.documents,
        onStage: o.json || !process.stderr.isTTY ? undefined : (s) => say(s),
        onMissing: (n) => bar.grow(n),
        onProgress: (n) => bar.add(n),
      }).finally(() => bar.stop());
      if (o.json) return printJson(r);
      for (const w of r.warnings) say(`warning: ${w}`);
      say(
        `backed up ${r.files} files (${mb(r.bytes)}) in ${r.seconds.toFixed(1)} s: ${r.uploadedBlobs} new files sent (${mb(r.sentBytes)} on the wire)`,
      );
      for (const s of r.snapshots) say(`  ${s.name}`);
    }),
  );

program
  .command('list')
  .description('list the backups (snapshots) the server keeps for this laptop')
  .option('--profile <dir>', 'Sugar profile folder')
  .option('--json', 'print as JSON')
  .action(
    action(async (o: { profile?: string; json?: boolean }) => {
      const cfg = new Profile(o.profile).requireConfig();
      const client = new ApiClient(cfg.server, cfg.token);
      try {
        const r = await listSnapshots(client);
        if (o.json) return printJson(r);
        if (!r.snapshots.length) return say('no backups yet');
        for (const s of r.snapshots) {
          process.stdout.write(
            `${s.name.padEnd(34)} ${new Date(s.createdAt).toISOString().slice(0, 19).replace('T', ' ')}  ${String(s.files).padStart(7)} files  ${mb(s.bytes).padStart(10)}${s.serial !== cfg.serial ? `  (from ${s.serial})` : ''}\n`,
          );
        }
      } finally {
        await client.close();
      }
    }),
  );

program
  .command('restore')
  .description(
    'restore everything (--all) or one Journal entry (--entry UID), or pick documents on the web page (--web)',
  )
  .option('--profile <dir>', 'Sugar profile folder')
  .option('--all', 'restore every source of the snapshot')
  .option('--entry <uid>', 'restore one Journal entry')
  .option('--snapshot <name>', 'which backup, e.g. datastore-2026-11-26_06:26 (default: the latest)')
  .option('--to <dir>', "write into DIR/<source> instead of back into this laptop's Journal")
  .option('--xoj', 'with --entry: write a Journal Entry Bundle (.xoj) instead of an entry folder')
  .option(
    '--version <v>',
    'with --entry: a pinned version of the entry (see: ds-backup pins), even if no backup holds it any more',
  )
  .option('--force', 'overwrite local files newer than the backup')
  .option('--documents <dir>', 'Documents folder to restore into (without --to)')
  .option('--web', 'open the restore web page, signed in with a one-time link (valid 5 minutes, single use)')
  .option('--no-open', 'with --web: print only the link on stdout instead of opening a browser')
  .option('--json', 'print the result as JSON')
  .action(
    action(
      async (o: {
        profile?: string;
        all?: boolean;
        entry?: string;
        snapshot?: string;
        to?: string;
        xoj?: boolean;
        force?: boolean;
        documents?: string;
        web?: boolean;
        open?: boolean;
        json?: boolean;
        version?: string;
      }) => {
        if (o.web) return restoreWeb(new Profile(o.profile), o.open !== false, Boolean(o.json));
        if (Boolean(o.all) === Boolean(o.entry))
          throw new ExitError(EXIT.usage, 'say what to restore: --all or --entry UID');
        if (o.xoj && !o.entry) throw new ExitError(EXIT.usage, '--xoj goes with --entry UID');
        if (o.version && !o.entry) throw new ExitError(EXIT.usage, '--version goes with --entry UID');
        const profile = new Profile(o.profile);
        // Loaded here, not at startup: the .xoj writer (yazl) costs every backup run ~0.1 s otherwise.
        const { restoreAll, restoreEntry } = await import('../restore/restore.js');
        if (o.entry) {
          const r = await restoreEntry({
            profile,
            uid: o.entry,
            snapshot: o.snapshot,
            to: o.to,
            xoj: o.xoj,
            force: o.force,
            version: o.version,
          });
          if (o.json) return printJson(r);
          return say(`restored "${r.title}" (${r.uid}) from ${r.snapshot} to ${r.path}`);
        }
        const bar = progressBar('restoring', !o.json);
        const r = await restoreAll({
          profile,
          snapshot: o.snapshot,
          to: o.to,
          force: o.force,
          documents: o.documents,
          onStart: (t) => bar.start(t),
          onProgress: (n) => bar.add(n),
        }).finally(() => bar.stop());
        if (o.json) return printJson(r);
        for (const x of r.restored) {
          say(
            `${x.snapshot} → ${x.dest}: ${x.written} files written, ${x.skipped} already right${x.keptNewer ? `, ${x.keptNewer} newer local files kept (use --force)` : ''}`,
          );
        }
      },
    ),
  );

async function restoreWeb(profile: Profile, open: boolean, json: boolean): Promise<void> {
  const cfg = profile.requireConfig();
  const client = new ApiClient(cfg.server, cfg.token);
  try {
    const link = await requestWebLink(client);
    const opened = open ? await openInBrowser(link.url) : null;
    if (json) return printJson({ ...link, opened });
    if (!open) return void process.stdout.write(`${link.url}\n`);
    if (opened) say(`opened the restore page in the browser (${opened}); the link works once, for 5 minutes`);
    else {
      say('no browser could be started; open this link (it works once, for 5 minutes):');
      process.stdout.write(`${link.url}\n`);
    }
  } finally {
    await client.close();
  }
}
program
  .command('run')
  .description('the scheduled backup: skip quietly when not needed, else wait a little, lock, back up')
  .option('--profile <dir>', 'Sugar profile folder (default ~/.sugar/default)')
  .option('--no-sleep', 'skip the random stagger sleep before backing up')
  .option(
    '--max-sleep <minutes>',
    'longest stagger sleep (default 20, or schedule.json maxSleepMinutes)',
    intOption(0, 24 * 60),
  )
  .option(
    '--min-battery <pct>',
    'on battery, skip below this charge (default 30, or schedule.json minBattery)',
    intOption(0, 100),
  )
  .option('--sysfs-root <dir>', 'read power supplies from DIR/sys/class/power_supply (tests)', '/')
  .option('--documents <dir>', 'Documents folder to back up')
  .option('--json', 'print the outcome as JSON')
  .addHelpText(
    'after',
    `
Checks in order, each skip exiting 0 with the reason in the log and state.json:
  1. already backed up today (ds-backup-done touched since local midnight)
  2. on battery below --min-battery % (/sys/class/power_supply)
  3. not registered, or the server does not answer GET ${API.ping.url}
Then a random sleep of 0..--max-sleep minutes, the "today" check again, the
lock <profile>/lock/ds-backup.run (held by another run: exit 5 at once), and
the backup. Server busy (503): wait as its Retry-After says (for at most an
hour of waiting in all); without Retry-After back off with full jitter
(waits up to ${backoffCaps()
      .map((c) => c / 60_000)
      .join(', ')} min), at most ${MAX_TRIES} tries.
Settings file: <profile>/ds-backup/schedule.json {"minBattery": 30, "maxSleepMinutes": 20}.
Exit codes: 0 backed up or skipped, 1 failed, 4 server still busy: gave up
until the next tick, 5 another run holds the lock, 6 server disk full.`,
  )
  .action(
    action(
      async (o: {
        profile?: string;
        sleep: boolean;
        maxSleep?: number;
        minBattery?: number;
        sysfsRoot: string;
        documents?: string;
        json?: boolean;
      }) => {
        const profile = new Profile(o.profile);
        const settings = runSettings(profile, {
          noSleep: !o.sleep,
          maxSleep: o.maxSleep,
          minBattery: o.minBattery,
          sysfsRoot: o.sysfsRoot,
          documents: o.documents,
        });
        const r = await scheduledRun(
          profile,
          settings,
          realDeps((line) => say(`ds-backup run: ${line}`)),
        );
        if (o.json) printJson(r);
        process.exit(r.exitCode); // now: do not linger on idle keep-alive sockets
      },
    ),
  );

program
  .command('status')
  .description('when the last backup succeeded, when the next attempt is due, why the last run skipped or failed')
  .option('--profile <dir>', 'Sugar profile folder')
  .option('--json', 'print as JSON')
  .action(
    action(async (o: { profile?: string; json?: boolean }) => {
      const profile = new Profile(o.profile);
      const s = agentStatus(profile);
      const current = await currentRestoreCode(profile);
      if (current) Object.assign(s, { restoreCode: current, restoreCodeChecked: true });
      if (o.json) return printJson(s);
      process.stdout.write(formatStatus(s));
    }),
  );

program
  .command('install-timer')
  .description('run `ds-backup run` every 15 minutes: a systemd user timer, or the crontab line without systemd')
  .option('--profile <dir>', 'Sugar profile folder the timer backs up (default ~/.sugar/default)')
  .option('--dry-run', 'print what would be written and run, change nothing')
  .option('--cron', 'print the crontab line even when systemd is present')
  .option('--systemd', 'use systemd units even when no systemd user manager answers (e.g. preparing an image)')
  .option('--json', 'print the plan as JSON')
  .addHelpText(
    'after',
    `
systemd: writes ~/.config/systemd/user/ds-backup.{service,timer} (Nice=19,
IOSchedulingClass=idle, every 15 min), then systemctl --user enable --now.
No systemd: prints a crontab line to add with \`crontab -e\`.`,
  )
  .action(
    action((o: { profile?: string; dryRun?: boolean; cron?: boolean; systemd?: boolean; json?: boolean }) => {
      if (o.cron && o.systemd) throw new ExitError(EXIT.usage, 'choose one of --cron and --systemd');
      const profile = new Profile(o.profile);
      const systemd = !o.cron && (o.systemd || hasSystemd());
      const p = plan(defaultInput(o.profile, join(profile.stateDir, 'run.log'), systemd));
      if (p.mode === 'systemd' && !o.dryRun) apply(p);
      if (o.json) return printJson({ ...p, dryRun: Boolean(o.dryRun) });
      if (p.mode === 'cron') {
        say('systemd is not available here; add this line with `crontab -e`:');
        process.stdout.write(`${p.crontab}\n`);
        return;
      }
      for (const f of p.files) {
        if (o.dryRun) process.stdout.write(`# ${f.path}\n${f.content}\n`);
        else say(`wrote ${f.path}`);
      }
      for (const c of p.commands)
        (o.dryRun ? (l: string) => process.stdout.write(`${l}\n`) : say)(
          `${o.dryRun ? 'would run' : 'ran'}: ${c.join(' ')}`,
        );
    }),
  );

addPinCommands(program);
addInstallCommands(program);

await program.parseAsync(process.argv);
