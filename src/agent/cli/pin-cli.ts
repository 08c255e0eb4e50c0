/**
 * pin-cli — `ds-backup pin`, `unpin` and `pins`: keep a backup or one Journal
 * entry version beyond the server's daily cleanup.
 */
import type { Command } from 'commander';
import { action, EXIT, ExitError, printJson } from '../../platform/cli-util.js';
import { ApiClient } from '../client.js';
import { addPin, listPins, removePins, type RemotePin } from '../restore/pins.js';
import { Profile } from '../profile.js';

const describe = (p: RemotePin) =>
  p.kind === 'snapshot'
    ? `${p.id}  snapshot ${p.snapshot}${p.serial ? ` (${p.serial})` : ''}`
    : `${p.id}  entry ${p.uid} version ${p.version?.slice(0, 12)} "${p.title ?? ''}"${p.auto ? ' (starred)' : ''}`;

async function withClient<T>(profileDir: string | undefined, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  const cfg = new Profile(profileDir).requireConfig();
  const client = new ApiClient(cfg.server, cfg.token);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

type Sel = { profile?: string; snapshot?: string; entry?: string; version?: string; json?: boolean };

function check(o: Sel, id?: string): void {
  const n = [o.snapshot, o.entry, id].filter(Boolean).length;
  if (n !== 1)
    throw new ExitError(
      EXIT.usage,
      `say what: --snapshot NAME or --entry UID${id === undefined ? '' : ' or a pin id'}`,
    );
  if (o.version && !o.entry) throw new ExitError(EXIT.usage, '--version goes with --entry UID');
}

export function addPinCommands(program: Command): void {
  program
    .command('pin')
    .description(
      "keep a backup (snapshot) or one Journal entry version even after the server's cleanup would remove it",
    )
    .option('--profile <dir>', 'Sugar profile folder')
    .option('--snapshot <name>', 'a backup, e.g. datastore-2026-11-26_06:26 (see: ds-backup list)')
    .option('--entry <uid>', 'a Journal entry')
    .option('--version <v>', 'with --entry: which version (default: the newest backed up)')
    .option('--json', 'print the pin as JSON')
    .addHelpText(
      'after',
      '\nStarred Journal entries are pinned automatically. Exit codes: 0 ok, 1 error, 2 usage, 3 not registered.',
    )
    .action(
      action(async (o: Sel) => {
        check(o);
        const pin = await withClient(o.profile, (c) =>
          addPin(c, o.snapshot ? { snapshot: o.snapshot } : { entry: o.entry, version: o.version }),
        );
        if (o.json) printJson(pin);
        else process.stdout.write(`pinned ${describe(pin)}\n`);
      }),
    );

  program
    .command('unpin [id]')
    .description("remove a pin (by its id, or by --snapshot / --entry); the server's cleanup may then remove that data")
    .option('--profile <dir>', 'Sugar profile folder')
    .option('--snapshot <name>', 'the pinned backup')
    .option('--entry <uid>', 'the pinned Journal entry (all its pinned versions unless --version)')
    .option('--version <v>', 'with --entry: only this version')
    .option('--json', 'print the removed pins as JSON')
    .action(
      action(async (id: string | undefined, o: Sel) => {
        check(o, id ?? '');
        const gone = await withClient(o.profile, (c) =>
          removePins(c, { id, snapshot: o.snapshot, entry: o.entry, version: o.version }),
        );
        if (o.json) printJson({ removed: gone });
        else for (const p of gone) process.stdout.write(`unpinned ${describe(p)}\n`);
      }),
    );

  program
    .command('pins')
    .description("list this account's pins (manual and starred entries)")
    .option('--profile <dir>', 'Sugar profile folder')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: Sel) => {
        const pins = await withClient(o.profile, (c) => listPins(c));
        if (o.json) printJson({ pins });
        else if (!pins.length) process.stdout.write('no pins\n');
        else for (const p of pins) process.stdout.write(`${describe(p)}\n`);
      }),
    );
}
