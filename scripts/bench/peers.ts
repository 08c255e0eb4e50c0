/**
 * peers — the tools ds-backup is measured against, behind one Tool interface.
 *
 *  - rsync over SSH, exactly as the 2008 OLPC client ran it
 *    (`rsync -z -rlt --partial --delete --timeout=160 -e "ssh -F /dev/null …"`)
 *    to an sshd this module starts on a loopback port with its own config,
 *    throwaway host key and an authorized key for the current user. The key's
 *    forced command wraps the remote rsync in GNU time, so the server side's
 *    peak RSS and CPU are known too; the client command is unchanged.
 *  - restic backing up to a local repository (RESTIC_PASSWORD set, one
 *    `restic init` per repository, untimed).
 *  - `cp -a`, the floor of what the disk can do.
 *
 * A Tool keeps one destination per label (laptop). reset() wipes them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort, GNU_TIME, run, timed, type Sample } from './measure.js';

export type ToolName = 'ds-backup' | 'rsync' | 'restic' | 'cp';

export interface Laptop {
  label: string;
  /** The Sugar profile folder (ds-backup's --profile). */
  profile: string;
  /** What is backed up: <profile>/datastore. */
  datastore: string;
}

export interface Tool {
  name: ToolName;
  /** Wipes every destination (untimed). */
  reset(): Promise<void>;
  /** Makes the laptop known to the destination (untimed): register, init, mkdir. */
  prepare(l: Laptop): Promise<void>;
  backup(l: Laptop): Promise<Sample>;
  restore(l: Laptop, to: string): Promise<Sample>;
  close(): Promise<void>;
}

/** How to install each peer on Debian when it is missing. */
export const INSTALL: Record<Exclude<ToolName, 'ds-backup'>, { bins: string[]; hint: string }> = {
  rsync: {
    bins: ['/usr/bin/rsync', '/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/ssh-keygen'],
    hint: 'apt-get install rsync openssh-server openssh-client',
  },
  restic: { bins: ['/usr/bin/restic'], hint: 'apt-get install restic' },
  cp: { bins: ['/usr/bin/cp'], hint: 'apt-get install coreutils' },
};

export function missingPeer(name: ToolName): string | null {
  if (name === 'ds-backup') return null;
  const need = INSTALL[name];
  const absent = need.bins.filter((b) => !existsSync(b));
  return absent.length ? `${name} skipped: ${absent.join(', ')} not found (install: ${need.hint})` : null;
}

/** Bytes of the regular files under `dir` (a destination's size). */
export function dirBytes(dir: string): number {
  let n = 0;
  if (!existsSync(dir)) return 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) n += dirBytes(p);
    else if (name.isFile()) n += statSync(p).size;
  }
  return n;
}

function waitPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`nothing listens on 127.0.0.1:${port}`));
        else setTimeout(tryOnce, 50);
      });
    };
    tryOnce();
  });
}

/** An sshd of our own on a loopback port; the key's forced command records remote rusage. */
class Sshd {
  proc: ChildProcess | null = null;
  port = 0;
  constructor(readonly dir: string) {}

  get key(): string {
    return join(this.dir, 'client_key');
  }
  get usageLog(): string {
    return join(this.dir, 'remote-usage');
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    mkdirSync('/run/sshd', { recursive: true });
    for (const k of ['host_key', 'client_key']) {
      if (!existsSync(join(this.dir, k)))
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(this.dir, k)]);
    }
    const wrap = join(this.dir, 'wrap.sh');
    writeFileSync(
      wrap,
      `#!/bin/sh\nexec ${GNU_TIME} -f '%M %U %S' -o '${this.usageLog}' /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`,
    );
    chmodSync(wrap, 0o755);
    const pub = readFileSync(`${this.key}.pub`, 'utf8').trim();
    writeFileSync(
      join(this.dir, 'authorized_keys'),
      `command="${wrap}",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding ${pub}\n`,
      { mode: 0o600 },
    );
    this.port = await freePort();
    const conf = join(this.dir, 'sshd_config');
    writeFileSync(
      conf,
      [
        `Port ${this.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(this.dir, 'host_key')}`,
        `PidFile ${join(this.dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
        'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    this.proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitPort(this.port, 10_000);
  }

  /** The remote side's peak RSS (bytes) and CPU of the last session. */
  remoteUsage(): { rss: number; cpu: number } {
    try {
      const [m, u, s] = readFileSync(this.usageLog, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      return { rss: m * 1024, cpu: u + s };
    } catch {
      return { rss: NaN, cpu: NaN };
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }
}

export class RsyncTool implements Tool {
  readonly name = 'rsync' as const;
  private sshd: Sshd;
  constructor(readonly root: string) {
    this.sshd = new Sshd(join(root, 'sshd'));
  }
  async start(): Promise<this> {
    await this.sshd.start();
    return this;
  }
  private dest(l: Laptop): string {
    return join(this.root, 'dest', l.label);
  }
  private args(from: string, to: string): string[] {
    const ssh = `ssh -F /dev/null -o PasswordAuthentication=no -o StrictHostKeyChecking=no -i ${this.sshd.key} -p ${this.sshd.port}`;
    return ['-z', '-rlt', '--partial', '--delete', '--timeout=160', '-e', ssh, from, to];
  }
  async reset(): Promise<void> {
    rmSync(join(this.root, 'dest'), { recursive: true, force: true });
  }
  async prepare(l: Laptop): Promise<void> {
    mkdirSync(this.dest(l), { recursive: true });
  }
  private async session(args: string[]): Promise<Sample> {
    rmSync(this.sshd.usageLog, { force: true });
    const { sample } = await timed('rsync', args);
    const r = this.sshd.remoteUsage();
    return { ...sample, serverRss: r.rss, serverCpu: r.cpu };
  }
  backup(l: Laptop): Promise<Sample> {
    return this.session(this.args(`${l.datastore}/`, `127.0.0.1:${this.dest(l)}`));
  }
  restore(l: Laptop, to: string): Promise<Sample> {
    return this.session(this.args(`127.0.0.1:${this.dest(l)}/`, to));
  }
  close(): Promise<void> {
    return this.sshd.stop();
  }
}

export class ResticTool implements Tool {
  readonly name = 'restic' as const;
  constructor(readonly root: string) {}
  private repo(l: Laptop): string {
    return join(this.root, 'repos', l.label);
  }
  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      RESTIC_PASSWORD: 'bench',
      RESTIC_CACHE_DIR: join(this.root, 'cache'),
      RESTIC_PROGRESS_FPS: '0.1',
    };
  }
  async reset(): Promise<void> {
    rmSync(this.root, { recursive: true, force: true });
  }
  async prepare(l: Laptop): Promise<void> {
    if (!existsSync(join(this.repo(l), 'config')))
      await run('restic', ['-r', this.repo(l), 'init', '-q'], { env: this.env() });
  }
  async backup(l: Laptop): Promise<Sample> {
    const before = dirBytes(this.repo(l));
    const { sample } = await timed('restic', ['-r', this.repo(l), 'backup', '-q', l.datastore], {
      env: this.env(),
      network: false,
    });
    return { ...sample, serverRss: null, extra: { storedBytes: dirBytes(this.repo(l)) - before } };
  }
  async restore(l: Laptop, to: string): Promise<Sample> {
    const { sample } = await timed('restic', ['-r', this.repo(l), 'restore', 'latest', '-q', '--target', to], {
      env: this.env(),
      network: false,
    });
    return { ...sample, serverRss: null };
  }
  async close(): Promise<void> {}
}

export class CpTool implements Tool {
  readonly name = 'cp' as const;
  constructor(readonly root: string) {}
  private dest(l: Laptop): string {
    return join(this.root, l.label);
  }
  async reset(): Promise<void> {
    rmSync(this.root, { recursive: true, force: true });
  }
  async prepare(): Promise<void> {
    mkdirSync(this.root, { recursive: true });
  }
  /** A full copy every time: cp has no notion of "what changed" (first backup and restore only). */
  async backup(l: Laptop): Promise<Sample> {
    rmSync(this.dest(l), { recursive: true, force: true });
    const { sample } = await timed('cp', ['-a', l.datastore, this.dest(l)], { network: false });
    return { ...sample, serverRss: null };
  }
  async restore(l: Laptop, to: string): Promise<Sample> {
    const { sample } = await timed('cp', ['-a', this.dest(l), to], { network: false });
    return { ...sample, serverRss: null };
  }
  async close(): Promise<void> {}
}
