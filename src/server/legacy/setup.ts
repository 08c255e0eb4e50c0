/**
 * setup — `ds-backup-server legacy setup`: prepares the system (as root) so
 * unchanged XO laptops can rsync their Journal in over SSH.
 *
 * For every registered serial with an SSH public key (from Sugar's XML-RPC
 * registration):
 *   - a Unix account named exactly the serial (the old client logs in with
 *     `-l <SN>`), no password (`*`: not "locked", so sshd accepts the key),
 *     login shell `<root>/legacy/shell` (refuses anything but the confined
 *     rsync), home `<root>/users/<SN>` owned by root;
 *   - `datastore-current`, `documents`, `power-logs` in that home, owned by
 *     the account (the only places it can write besides its flag);
 *   - `.ssh/authorized_keys` owned by root (the account cannot edit it) with
 *     `restrict,command="ds-backup-legacy <SN>" <key>`;
 * and once: the completion folder (root, mode 1733: anyone may drop a flag,
 * no one may list or remove another's), `<root>/legacy/shell`, and
 * `<root>/legacy/accounts.json` (serial → user, uid, gid, home).
 * `<root>` and `<root>/users` get o+x (search only) so the accounts reach
 * their homes. Running it again changes only what differs (idempotent).
 * An existing Unix user of that name whose home is elsewhere is never
 * touched: the serial is reported as skipped.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import { writeFileAtomic } from '../../platform/durable.js';
import type { Store } from '../store/store.js';
import { readAccounts, writeAccounts, type LegacyAccount } from './accounts.js';
import { HOME_FOLDERS, SESSION_MARK } from './command-policy.js';
import { unlessMissing } from '../../platform/fs-errors.js';

export interface SetupResult {
  completionDir: string;
  shell: string;
  accounts: Array<{ serial: string; user: string; uid: number; created: boolean }>;
  skipped: Array<{ serial: string; reason: string }>;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

function getent(user: string): PasswdEntry | null {
  try {
    const f = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).trim().split(':');
    return { uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
  } catch (e) {
    if ((e as { status?: number }).status !== 2) throw e; // getent exits 2: no such user
    return null;
  }
}

function ensureMode(path: string, mode: number, uid = 0, gid = 0): void {
  const st = statSync(path);
  if (st.uid !== uid || st.gid !== gid) chownSync(path, uid, gid);
  if ((st.mode & 0o7777) !== mode) chmodSync(path, mode);
}

function addSearch(path: string): void {
  const st = statSync(path);
  if (!(st.mode & 0o001)) chmodSync(path, (st.mode & 0o7777) | 0o011);
}

function writeIfChanged(path: string, text: string, mode: number): void {
  let old: string | null = null;
  try {
    old = readFileSync(path, 'utf8');
  } catch (e) {
    unlessMissing(e); // new
  }
  if (old !== text) writeFileAtomic(path, text, mode);
  ensureMode(path, mode);
}

/** The login shell script: runs shell.js with this root and completion folder. */
function writeShell(root: string, completionDir: string): string {
  let js = fileURLToPath(new URL('./shell.js', import.meta.url));
  // Run from sources (tsx): use the built file.
  if (!existsSync(js)) js = js.replace(/\/src\/server\/legacy\/shell\.js$/, '/dist/server/legacy/shell.js');
  if (!existsSync(js)) throw new AppError('internal', `${js} is missing; run npm run build`);
  const path = join(root, 'legacy', 'shell');
  writeIfChanged(
    path,
    `#!/bin/sh\n# ds-backup legacy login shell: confined rsync only (see ds-backup-server legacy setup)\n` +
      `exec ${q(process.execPath)} ${q(js)} --root ${q(root)} --completion ${q(completionDir)} "$@"\n`,
    0o755,
  );
  return path;
}

function ensureUser(serial: string, home: string, shell: string): { entry: PasswdEntry; created: boolean } | string {
  const found = getent(serial);
  if (found) {
    if (found.home !== home) return `Unix user ${serial} already exists with home ${found.home}; not touched`;
    if (found.shell !== shell) execFileSync('usermod', ['--shell', shell, serial]);
    return { entry: { ...found, shell }, created: false };
  }
  const args = [
    '--no-create-home',
    '--home-dir',
    home,
    '--shell',
    shell,
    '--user-group',
    '--password',
    '*',
    '--comment',
    `ds-backup laptop ${serial}`,
    serial,
  ];
  try {
    execFileSync('useradd', args, { stdio: 'pipe' });
  } catch {
    // Newer useradd refuses upper-case names without --badname; the second attempt reports any other failure.
    try {
      execFileSync('useradd', ['--badname', ...args], { stdio: 'pipe' });
    } catch (e) {
      return `useradd failed: ${
        String((e as { stderr?: Buffer }).stderr ?? (e as Error).message)
          .trim()
          .split('\n')[0]
      }`;
    }
  }
  const entry = getent(serial);
  if (!entry) return `useradd did not create ${serial}`;
  return { entry, created: true };
}

function prepareHome(home: string, serial: string, a: PasswdEntry, pubkey: string): void {
  mkdirSync(home, { recursive: true });
  ensureMode(home, 0o755);
  for (const f of HOME_FOLDERS) {
    const d = join(home, f);
    if (!existsSync(d)) mkdirSync(d);
    // A folder from an old server (other uid): hand its whole content to the account once.
    if (statSync(d).uid !== a.uid) execFileSync('chown', ['-R', '--no-dereference', `${a.uid}:${a.gid}`, d]);
    ensureMode(d, 0o700, a.uid, a.gid);
  }
  // The home stays root's (0755), so the account cannot place links in it; the session mark is the one
  // file in it the account may write: the legacy shell touches it when an rsync session starts.
  const mark = join(home, SESSION_MARK);
  if (!existsSync(mark)) writeFileSync(mark, '', { mode: 0o644 });
  ensureMode(mark, 0o644, a.uid, a.gid);
  const ssh = join(home, '.ssh');
  if (!existsSync(ssh)) mkdirSync(ssh);
  ensureMode(ssh, 0o755);
  writeIfChanged(
    join(ssh, 'authorized_keys'),
    `restrict,command="ds-backup-legacy ${serial}" ${pubkey} ds-backup:${serial}\n`,
    0o644,
  );
}

/** Sets up every laptop with a key, or only `opts.only` (after one registration). */
export function legacySetup(store: Store, opts: { completionDir: string; only?: string }): SetupResult {
  if (process.getuid?.() !== 0) throw new AppError('forbidden', 'legacy setup creates Unix accounts: run it as root');
  const root = store.root;
  addSearch(root);
  addSearch(store.usersDir);
  mkdirSync(join(root, 'legacy'), { recursive: true });
  ensureMode(join(root, 'legacy'), 0o755);
  mkdirSync(opts.completionDir, { recursive: true });
  ensureMode(opts.completionDir, 0o1733);
  const shell = writeShell(root, opts.completionDir);
  const accounts: Record<string, LegacyAccount> = readAccounts(root);
  const result: SetupResult = { completionDir: opts.completionDir, shell, accounts: [], skipped: [] };
  for (const serial of opts.only ? [opts.only] : store.serials().sort()) {
    const rec = store.registry.readRecord(serial);
    if (!rec || !rec.pubkey) continue;
    if (rec.disabled) {
      result.skipped.push({ serial, reason: 'disabled' });
      continue;
    }
    const home = store.userDir(serial);
    const u = ensureUser(serial, home, shell);
    if (typeof u === 'string') {
      result.skipped.push({ serial, reason: u });
      continue;
    }
    prepareHome(home, serial, u.entry, rec.pubkey);
    accounts[serial] = { user: serial, uid: u.entry.uid, gid: u.entry.gid, home };
    result.accounts.push({ serial, user: serial, uid: u.entry.uid, created: u.created });
  }
  writeAccounts(root, accounts);
  return result;
}

/** Removes the Unix accounts setup made (tests, decommissioning). */
export function removeLegacyAccounts(root: string): string[] {
  const removed: string[] = [];
  for (const [serial, a] of Object.entries(readAccounts(root))) {
    const e = getent(a.user);
    if (e && e.home === a.home) {
      execFileSync('userdel', [a.user], { stdio: 'pipe' });
      removed.push(serial);
    }
  }
  if (existsSync(join(root, 'legacy'))) writeAccounts(root, {});
  return removed;
}
