/**
 * timer — `ds-backup install-timer`: makes `ds-backup run` happen on its own.
 *
 * With systemd: a user service + timer in ~/.config/systemd/user/
 * (ds-backup.service, ds-backup.timer), then `systemctl --user daemon-reload`
 * and `enable --now ds-backup.timer`. The timer fires 5 min after login and
 * every 15 min after; the service runs at the lowest CPU priority (Nice=19)
 * and in the idle I/O class, and exits 4 (gave up, busy) / 5 (locked) count
 * as success so a busy server does not mark the unit failed.
 * Without systemd: the equivalent crontab line, printed for the user to add
 * (`crontab -e`), output appended to <profile>/ds-backup/run.log.
 *
 * plan() is pure (paths and text in, files and commands out) so --dry-run
 * shows exactly what would be written and tests check it without systemd.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { installation } from '../install/installed.js';

export interface TimerPlan {
  mode: 'systemd' | 'cron';
  files: Array<{ path: string; content: string }>;
  commands: string[][];
  crontab?: string;
}

export interface PlanInput {
  node: string;
  script: string;
  /** --profile to pass, when not the default profile. */
  profile?: string;
  logFile: string;
  unitDir: string;
  systemd: boolean;
}

const SAFE = /^[\w@+=:,./-]+$/;

/** Quotes one word for a shell (the crontab line). */
function quote(s: string): string {
  return SAFE.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quotes one word for ExecStart= (C-style double quotes; % and $ doubled). */
function quoteUnit(s: string): string {
  const t = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return SAFE.test(s) ? t : `"${t.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function command(i: PlanInput): string[] {
  return [i.node, i.script, 'run', ...(i.profile ? ['--profile', i.profile] : [])];
}

export function plan(i: PlanInput): TimerPlan {
  if (!i.systemd) {
    const cmd = command(i).map(quote).join(' ').replace(/%/g, '\\%');
    return {
      mode: 'cron',
      files: [],
      commands: [],
      crontab: `*/15 * * * * nice -n 19 ionice -c 3 ${cmd} >>${quote(i.logFile).replace(/%/g, '\\%')} 2>&1`,
    };
  }
  const cmd = command(i).map(quoteUnit).join(' ');
  const service = `[Unit]
Description=ds-backup: back up the Sugar Journal to the school server (at most once a day)

[Service]
Type=oneshot
ExecStart=${cmd}
Nice=19
IOSchedulingClass=idle
# 4 = server busy, gave up until the next tick; 5 = another run holds the lock
# (6 = server disk full is a failure: the unit shows failed until an admin frees space)
SuccessExitStatus=4 5
`;
  const timer = `[Unit]
Description=ds-backup: try a backup every 15 minutes (ds-backup run skips when done today)

[Timer]
OnBootSec=5min
OnUnitActiveSec=15min
AccuracySec=1min

[Install]
WantedBy=timers.target
`;
  return {
    mode: 'systemd',
    files: [
      { path: join(i.unitDir, 'ds-backup.service'), content: service },
      { path: join(i.unitDir, 'ds-backup.timer'), content: timer },
    ],
    commands: [
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', '--now', 'ds-backup.timer'],
    ],
  };
}

/** True when a systemd user manager can be talked to. */
export function hasSystemd(): boolean {
  if (!existsSync('/run/systemd/system')) return false;
  try {
    execFileSync('systemctl', ['--user', 'show-environment'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false; // any failure (no user bus, timeout): no user manager to talk to
  }
}

/** bin/ds-backup.js of this package, found upwards from this module (dist/agent/, src/agent/ or the bundle in dist/). */
function agentScript(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    const script = join(dir, 'bin', 'ds-backup.js');
    if (existsSync(script) || dirname(dir) === dir) return script;
  }
}

export function defaultInput(profile: string | undefined, logFile: string, systemd: boolean): PlanInput {
  const configHome = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  // An agent installed by the school server's script runs through its launcher, which follows self-upgrades.
  const launcher = installation()?.launcher;
  return {
    node: launcher ? '/bin/sh' : process.execPath,
    script: launcher ?? agentScript(),
    profile: profile ? resolve(profile) : undefined,
    logFile,
    unitDir: join(configHome, 'systemd', 'user'),
    systemd,
  };
}

/** Writes the unit files and runs the systemctl commands. */
export function apply(p: TimerPlan): void {
  for (const f of p.files) {
    mkdirSync(resolve(f.path, '..'), { recursive: true });
    writeFileAtomic(f.path, f.content, 0o644);
  }
  for (const [cmd, ...args] of p.commands) execFileSync(cmd, args, { stdio: 'inherit', timeout: 30_000 });
}
