/**
 * dsbackup — ds-backup as a benchmark Tool: the server as a separate process
 * from the built dist/ (`bin/ds-backup-server.js serve`), the agent as
 * `bin/ds-backup.js backup --json` — both run as installed, through their
 * shebangs (`node --max-semi-space-size=1`), over loopback HTTP.
 *
 * Server peak RSS is its VmHWM (read from /proc at the end of each run and
 * reset between scenarios with clear_refs); server CPU is the /proc stat
 * delta over a run; commit time is the `commitMs` the server reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, procStats, resetHwm, run, timed, type Sample } from './measure.js';
import type { Laptop, Tool } from './peers.js';

export const REPO = resolve(import.meta.dirname, '..', '..');
const AGENT = join(REPO, 'bin', 'ds-backup.js');
const SERVER = join(REPO, 'bin', 'ds-backup-server.js');

export function builtCliMissing(): string | null {
  return existsSync(join(REPO, 'dist', 'agent', 'cli', 'cli.js'))
    ? null
    : 'ds-backup is not built: run `npm run build` first';
}

export class DsBackupTool implements Tool {
  readonly name = 'ds-backup' as const;
  private proc: ChildProcess | null = null;
  private url = '';
  private known = new Set<string>();
  constructor(readonly root: string) {}

  get serverPid(): number {
    return this.proc?.pid ?? 0;
  }

  private async startServer(): Promise<void> {
    const port = await freePort();
    const data = join(this.root, 'server');
    mkdirSync(data, { recursive: true });
    const p = spawn(
      SERVER,
      [
        'serve',
        '--root',
        data,
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--load-limit',
        '1000',
        '--max-concurrent',
        '1000',
        '--log-level',
        'warn',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    this.proc = p;
    await new Promise<void>((ok, fail) => {
      let text = '';
      p.stdout!.on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('listening on')) ok();
      });
      p.once('exit', (code) => fail(new Error(`ds-backup-server exited ${code} before listening`)));
    });
    p.stdout!.resume();
    this.url = `http://127.0.0.1:${port}`;
  }

  private async stopServer(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((ok) => {
      p.once('exit', () => ok());
      p.kill('SIGTERM');
    });
  }

  /** A fresh server with an empty store; every laptop's agent state is forgotten. */
  async reset(): Promise<void> {
    await this.stopServer();
    rmSync(this.root, { recursive: true, force: true });
    for (const profile of this.known) rmSync(join(profile, 'ds-backup'), { recursive: true, force: true });
    this.known.clear();
    await this.startServer();
  }

  async prepare(l: Laptop): Promise<void> {
    if (!this.proc) await this.startServer();
    if (this.known.has(l.profile)) return;
    rmSync(join(l.profile, 'ds-backup'), { recursive: true, force: true });
    const serial = `BENCH${l.label.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 32);
    await run(process.execPath, [
      '--expose-gc',
      AGENT,
      'register',
      '--server',
      this.url,
      '--serial',
      serial,
      '--nickname',
      l.label,
      '--profile',
      l.profile,
      '--json',
    ]);
    this.known.add(l.profile);
  }

  /** Starts a new scenario: the server's peak RSS is measured from here. */
  resetPeak(): void {
    if (this.proc?.pid) resetHwm(this.proc.pid);
  }

  private async measured(args: string[]): Promise<{ sample: Sample; json: Record<string, unknown> }> {
    const pid = this.proc!.pid!;
    const before = procStats(pid);
    const { sample, stdout } = await timed(AGENT, args);
    const after = procStats(pid);
    const json = JSON.parse(stdout) as Record<string, unknown>;
    return { sample: { ...sample, serverRss: after.hwm, serverCpu: after.cpu - before.cpu }, json };
  }

  async backup(l: Laptop): Promise<Sample> {
    const { sample, json } = await this.measured(['backup', '--profile', l.profile, '--json']);
    const extra: Record<string, number> = {};
    for (const k of ['commitMs', 'files', 'hashedFiles', 'uploadedBlobs', 'uploadedBytes', 'sentBytes'])
      if (typeof json[k] === 'number') extra[k] = json[k] as number;
    return { ...sample, extra };
  }

  async restore(l: Laptop, to: string): Promise<Sample> {
    return (await this.measured(['restore', '--profile', l.profile, '--all', '--to', to, '--json'])).sample;
  }

  close(): Promise<void> {
    return this.stopServer();
  }
}
