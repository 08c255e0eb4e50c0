/**
 * shell — the login shell and forced command of every legacy laptop account.
 *
 * `legacy setup` makes `<root>/legacy/shell` (a two-line sh script that runs
 * this file with --root and --completion) the account's login shell and
 * puts `restrict,command="ds-backup-legacy <SN>"` on its key, so sshd runs
 * `<shell> -c "ds-backup-legacy <SN>"` whatever the client asked; the
 * client's request is in SSH_ORIGINAL_COMMAND. This program checks the
 * forced command names the account's own serial, judges the request with
 * command-policy.ts, and runs /usr/bin/rsync directly (no shell) with the
 * rebuilt arguments, or refuses with one line on stderr and exit 1.
 * It imports only node built-ins and the pure policy, so it runs as the
 * unprivileged laptop account.
 */
import { spawnSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { judgeCommand, SESSION_MARK } from './command-policy.js';

function refuse(msg: string): never {
  process.stderr.write(`ds-backup: ${msg}\n`);
  process.exit(1);
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function main(argv: string[]): void {
  const root = arg(argv, '--root');
  const completionDir = arg(argv, '--completion');
  const forced = arg(argv, '-c');
  if (!root || !completionDir) refuse('legacy shell misconfigured; run ds-backup-server legacy setup again');
  if (forced === undefined) refuse("this account only accepts ds-backup's rsync; no shell");
  const m = /^ds-backup-legacy ([A-Za-z0-9]{3,32})$/.exec(forced);
  if (!m) refuse("this account only accepts ds-backup's rsync; no shell");
  const serial = m[1];
  if (userInfo().username !== serial) refuse(`key for ${serial} used by account ${userInfo().username}`);
  const home = join(root, 'users', serial);
  const v = judgeCommand(process.env.SSH_ORIGINAL_COMMAND ?? '', { serial, home, completionDir });
  if (!v.ok) refuse(v.reason);
  // Tells serve that this laptop's rsync session started (routes.ts keeps its slot for legacyLeaseSec).
  try {
    const t = new Date();
    writeFileSync(join(home, SESSION_MARK), '');
    utimesSync(join(home, SESSION_MARK), t, t);
  } catch {
    /* the backup still runs; the slot is then held only legacyStartSec */
  }
  const r = spawnSync('/usr/bin/rsync', v.argv, {
    stdio: 'inherit',
    cwd: home,
    env: { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C' },
  });
  process.exit(r.status ?? 1);
}

main(process.argv.slice(2));
