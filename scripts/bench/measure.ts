/**
 * measure — runs one timed command the same way for every tool.
 *
 * Wall time is taken here (hrtime around the child); client CPU (user+sys of
 * the whole child tree) and peak RSS (the largest single process of the tree,
 * as getrusage(RUSAGE_CHILDREN) reports it) come from GNU time
 * (`/usr/bin/time -f '%e %U %S %M'`, Debian package `time`). Bytes on the
 * wire are the loopback interface's tx counter (/proc/net/dev, `lo`) before
 * and after: loopback counts each packet once, in both directions, headers
 * included. The benchmark runs in its own network namespace when it can, so
 * nobody else's loopback traffic is counted.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';

export const GNU_TIME = '/usr/bin/time';

export interface Sample {
  /** Seconds. */
  wall: number;
  /** User + system seconds of the client process tree. */
  cpu: number;
  /** Peak resident set of the client's largest process, bytes. */
  rss: number;
  /** Loopback bytes (both directions) during the run; null for local-only tools. */
  wire: number | null;
  /** Peak resident set of the server side, bytes, when known. */
  serverRss?: number | null;
  /** Server CPU seconds during the run, when known. */
  serverCpu?: number | null;
  /** Tool-specific figures (commitMs, bytes stored, …). */
  extra?: Record<string, number>;
}

export function loTxBytes(): number {
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('lo:'));
  if (!line) return 0;
  const f = line.split(':')[1].trim().split(/\s+/).map(Number);
  return f[8];
}

export interface RunOutput {
  sample: Sample;
  stdout: string;
  stderr: string;
}

/** Runs cmd under GNU time; rejects with the command's stderr on a non-zero exit. */
export function timed(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; network?: boolean } = {},
): Promise<RunOutput> {
  const out = join(tmpdir(), `bench-time-${randomBytes(6).toString('hex')}`);
  const tx0 = loTxBytes();
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', out, cmd, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const so: Buffer[] = [];
    const se: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => so.push(b));
    child.stderr.on('data', (b: Buffer) => se.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const tx = loTxBytes() - tx0;
      const stdout = Buffer.concat(so).toString();
      const stderr = Buffer.concat(se).toString();
      let cpu = NaN;
      let rss = NaN;
      if (existsSync(out)) {
        const last = readFileSync(out, 'utf8').trim().split('\n').pop() ?? '';
        const [, u, s, m] = last.split(' ').map(Number);
        cpu = u + s;
        rss = m * 1024;
        rmSync(out, { force: true });
      }
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      resolve({ sample: { wall, cpu, rss, wire: opts.network === false ? null : tx }, stdout, stderr });
    });
  });
}

/** Runs a command untimed (setup steps); rejects on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const so: Buffer[] = [];
    const se: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => so.push(b));
    child.stderr.on('data', (b: Buffer) => se.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(so).toString())
        : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${Buffer.concat(se).toString().slice(-2000)}`)),
    );
  });
}

/** Peak RSS (VmHWM) and CPU seconds of a live process. */
export function procStats(pid: number): { hwm: number; cpu: number } {
  let hwm = NaN;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) hwm = Number(m[1]) * 1024;
  } catch {
    /* gone */
  }
  let cpu = NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpu = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    /* gone */
  }
  return { hwm, cpu };
}

/** Resets a process's VmHWM to its current RSS (clear_refs 5), so the next reading is per scenario. */
export function resetHwm(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    /* not permitted */
  }
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function freePort(): Promise<number> {
  return import('node:net').then(
    (net) =>
      new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
          const a = s.address();
          s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
        });
      }),
  );
}
