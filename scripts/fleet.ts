/**
 * fleet — a school of laptops waking up at once, against one real server.
 *
 *   npm run fleet -- --laptops 200 [--max-concurrent 10] [--entries 12]
 *                    [--arrival 3] [--bandwidth BYTES_PER_S] [--keep] [--timeline]
 *
 * Starts `ds-backup-server serve` as a child process (temp root, loopback,
 * --load-limit 100 so other work on this machine does not refuse backups),
 * generates N laptop profiles (small deterministic Journals sharing a
 * classroom pool) and registers each over HTTP; then every laptop starts a
 * backup at a random moment within --arrival seconds, in this process, over
 * real HTTP (agent `backup()`), and on 503 waits as Retry-After says — the
 * same rule and limits as `ds-backup run` (schedule.ts busyStep), without its stagger sleep.
 * Prints backups completed, failures (must be 0), the peak of concurrent
 * backups the server saw (must not exceed --max-concurrent), wall time, the
 * server's admission latency (answer time of POST /api/v1/backups) p50/p99
 * and the laptops' wait until admitted (--timeline: admissions per 5 s).
 * Exit 1 if a rule is broken.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AppError } from '../src/platform/errors.js';
import { backup } from '../src/agent/backup/backup.js';
import { ApiClient } from '../src/agent/client.js';
import { Profile } from '../src/agent/profile.js';
import { busyStep, type BusyState } from '../src/agent/schedule/schedule.js';
import { writeProfile } from '../src/journal/gen/generator.js';

const { values: o } = parseArgs({
  options: {
    laptops: { type: 'string', default: '200' },
    'max-concurrent': { type: 'string', default: '10' },
    entries: { type: 'string', default: '12' },
    arrival: { type: 'string', default: '3' },
    bandwidth: { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
    timeline: { type: 'boolean', default: false },
  },
});
const N = Number(o.laptops);
const MAX = Number(o['max-concurrent']);
const REPO = resolve(import.meta.dirname, '..');
const SERVER = join(REPO, 'bin', 'ds-backup-server.js');
const root = mkdtempSync(join(tmpdir(), 'dsb-fleet-'));
const say = (s: string) => process.stderr.write(`${s}\n`);
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : 0;
};

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      SERVER,
      'serve',
      '--root',
      join(root, 'server'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--max-concurrent',
      String(MAX),
      '--load-limit',
      '100',
      '--bandwidth',
      String(o.bandwidth),
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) res(m[1]);
    });
    child.on('exit', (code) => rej(new Error(`server exited ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((res) => {
        child.on('close', () => res());
        child.kill('SIGTERM');
      }),
  };
}

interface Laptop {
  profile: Profile;
  serial: string;
}

async function makeLaptops(url: string): Promise<Laptop[]> {
  const laptops: Laptop[] = [];
  const client = new ApiClient(url);
  for (let i = 0; i < N; i++) {
    const serial = `SHF9${String(i).padStart(7, '0')}`;
    const dir = join(root, 'laptops', serial);
    writeProfile(dir, {
      seed: `fleet-${i}`,
      entries: Number(o.entries),
      sharedPool: { seed: 'classroom', fraction: 0.3 },
    });
    const r = await client.json<{ token: string }>('POST', '/api/v1/devices', {
      json: { serial, nickname: `kid ${i}` },
    });
    const profile = new Profile(dir);
    profile.writeConfig({ server: url, serial, nickname: `kid ${i}`, token: r.token });
    laptops.push({ profile, serial });
  }
  await client.close();
  return laptops;
}

interface Outcome {
  ok: boolean;
  tries: number;
  waitMs: number;
  error?: string;
  admittedAt?: number;
}

async function oneLaptop(l: Laptop, arrivalMs: number): Promise<Outcome> {
  await sleep(Math.random() * arrivalMs);
  const start = Date.now();
  let busy: BusyState = { blind: 0, waitedMs: 0 };
  for (let tries = 1; ; tries++) {
    let admittedAt = 0;
    try {
      await backup({
        profile: l.profile,
        onStage: (s) => {
          if (!admittedAt && s.startsWith('scanning')) admittedAt = Date.now();
        },
      });
      return { ok: true, tries, waitMs: admittedAt - start, admittedAt };
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'busy'))
        return { ok: false, tries, waitMs: Date.now() - start, error: (e as Error).message };
      const step = busyStep(busy, e.retryAfter, Math.random());
      if (step.giveUp) return { ok: false, tries, waitMs: Date.now() - start, error: `gave up: ${e.message}` };
      busy = step.state;
      await sleep(step.waitMs);
    }
  }
}

const srv = await startServer();
const admin = execFileSync(process.execPath, [SERVER, 'admin-token', '--root', join(root, 'server')], {
  encoding: 'utf8',
}).trim();
const status = async () => {
  const r = await fetch(`${srv.url}/api/v1/status`, { headers: { authorization: `Bearer ${admin}` } });
  return (await r.json()) as {
    admission: {
      peakActive: number;
      active: number;
      waiting: number;
      avgLeaseSec: number;
      counters: Record<string, number>;
      latencyMs: { count: number; p50: number; p99: number; max: number };
    };
  };
};
try {
  say(`generating and registering ${N} laptops under ${root} …`);
  const laptops = await makeLaptops(srv.url);
  say(`${N} laptops arriving within ${o.arrival} s; server allows ${MAX} backups at once`);
  let maxSeen = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      maxSeen = Math.max(maxSeen, (await status()).admission.active);
      await sleep(200);
    }
  })();
  const t0 = Date.now();
  const results = await Promise.all(laptops.map((l) => oneLaptop(l, Number(o.arrival) * 1000)));
  const wall = (Date.now() - t0) / 1000;
  polling = false;
  await poller;
  const s = (await status()).admission;
  const ok = results.filter((r) => r.ok);
  const failed = results.filter((r) => !r.ok);
  const waits = ok.map((r) => r.waitMs / 1000);
  const tries = results.map((r) => r.tries);
  const lines = [
    `laptops:                 ${N}`,
    `backups completed:       ${ok.length}`,
    `failures:                ${failed.length}${failed.length ? ` (${[...new Set(failed.map((f) => f.error))].join('; ')})` : ''}`,
    `peak concurrent backups: ${s.peakActive} (limit ${MAX}; highest seen by polling ${maxSeen})`,
    `total wall time:         ${wall.toFixed(1)} s`,
    `admission latency:       p50 ${s.latencyMs.p50.toFixed(2)} ms, p99 ${s.latencyMs.p99.toFixed(2)} ms, max ${s.latencyMs.max.toFixed(2)} ms (${s.latencyMs.count} POST /api/v1/backups answered)`,
    `wait until admitted:     p50 ${q(waits, 0.5).toFixed(1)} s, p99 ${q(waits, 0.99).toFixed(1)} s`,
    `tries per laptop:        mean ${(tries.reduce((a, b) => a + b, 0) / N).toFixed(2)}, max ${Math.max(...tries)}`,
    `decisions:               ${Object.entries(s.counters)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `typical lease:           ${s.avgLeaseSec} s`,
  ];
  if (o.timeline) {
    const per = new Map<number, number>();
    for (const r of ok)
      per.set(Math.floor((r.admittedAt! - t0) / 5000), (per.get(Math.floor((r.admittedAt! - t0) / 5000)) ?? 0) + 1);
    lines.push(
      `admitted per 5 s:        ${[...per.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([k, v]) => `${k * 5}s:${v}`)
        .join(' ')}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  process.exitCode = failed.length || s.peakActive > MAX ? 1 : 0;
} finally {
  await srv.stop();
  if (!o.keep) rmSync(root, { recursive: true, force: true });
  else say(`kept ${root}`);
}
