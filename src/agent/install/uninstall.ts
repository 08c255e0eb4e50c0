/**
 * uninstall — `ds-backup uninstall [--forget]`: undoes the install script.
 *
 *   1. the timer: the systemd user units (disabled, stopped, removed) and the
 *      crontab line (the one install-timer prints, or any line running the
 *      launcher), whichever are there;
 *   2. the agent, when the install script put it there (installed.ts): the
 *      launcher (only if it carries the script's tag) and the install folder.
 *      An agent from a checkout or npm is left alone, with a line saying so;
 *   3. with --forget, this laptop's local state: <profile>/ds-backup/ (token,
 *      caches, run state) and ds-backup-done. The Journal is never touched,
 *      and the server keeps the backups.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Profile } from '../profile.js';
import { defaultInput, plan } from '../schedule/timer.js';
import { installation, LAUNCHER_TAG, type Installation } from './installed.js';

export interface UninstallResult {
  /** What was done, one line each. */
  done: string[];
  /** What was left, and why. */
  left: string[];
  /** The agent itself was removed (false: it did not come from the install script). */
  agentRemoved: boolean;
}

function run(cmd: string, args: string[], input?: string): string | null {
  try {
    return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'], timeout: 30_000 });
  } catch {
    return null;
  }
}

function removeSystemdTimer(r: UninstallResult): void {
  const unitDir = join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'systemd', 'user');
  const units = ['ds-backup.timer', 'ds-backup.service'].map((u) => join(unitDir, u)).filter((f) => existsSync(f));
  if (!units.length) return;
  run('systemctl', ['--user', 'disable', '--now', 'ds-backup.timer']);
  for (const f of units) rmSync(f, { force: true });
  run('systemctl', ['--user', 'daemon-reload']);
  r.done.push(`removed the systemd timer (${units.join(', ')})`);
}

function removeCronLine(r: UninstallResult, profile: Profile, inst: Installation | null): void {
  const current = run('crontab', ['-l']);
  if (current === null) return; // no crontab command, or no crontab yet
  const ours = plan(
    defaultInput(profile.isDefault ? undefined : profile.dir, join(profile.stateDir, 'run.log'), false),
  );
  const isOurs = (l: string) => l === ours.crontab || Boolean(inst && l.includes(`${inst.launcher} run`));
  const lines = current.split('\n');
  const kept = lines.filter((l) => !isOurs(l));
  if (kept.length === lines.length) return;
  if (run('crontab', ['-'], kept.join('\n')) === null)
    r.left.push('could not rewrite the crontab; remove the ds-backup line with `crontab -e`');
  else r.done.push('removed the ds-backup line from the crontab');
}

function removeAgent(r: UninstallResult, inst: Installation | null): void {
  if (!inst) {
    r.left.push(
      `the agent itself (${process.argv[1] ?? 'ds-backup'}): it was not installed by the school server's script; remove it the way it was installed (e.g. npm uninstall -g ds-backup)`,
    );
    return;
  }
  let launcher = '';
  try {
    launcher = readFileSync(inst.launcher, 'utf8');
  } catch {
    /* already gone */
  }
  if (launcher.includes(LAUNCHER_TAG)) {
    rmSync(inst.launcher, { force: true });
    r.done.push(`removed ${inst.launcher}`);
  } else if (launcher) r.left.push(`${inst.launcher}: not written by the install script`);
  rmSync(inst.dir, { recursive: true, force: true });
  r.done.push(`removed ${inst.dir}`);
  r.agentRemoved = true;
}

function forget(r: UninstallResult, profile: Profile): void {
  for (const p of [profile.stateDir, profile.doneFile, profile.lockFile]) {
    if (!existsSync(p)) continue;
    rmSync(p, { recursive: true, force: true });
    r.done.push(`removed ${p}`);
  }
}

export function uninstall(profile: Profile, opts: { forget: boolean }, inst = installation()): UninstallResult {
  const r: UninstallResult = { done: [], left: [], agentRemoved: false };
  removeSystemdTimer(r);
  removeCronLine(r, profile, inst);
  removeAgent(r, inst);
  if (opts.forget) forget(r, profile);
  else if (profile.readConfig())
    r.left.push(`this laptop's registration and caches in ${profile.stateDir} (--forget removes them)`);
  return r;
}
