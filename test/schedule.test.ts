/**
 * The scheduled run: every skip rule, the stagger, the busy backoff schedule
 * and the lock, with a fake clock, fake random, fake sysfs and fake server
 * calls (scheduledRun's RunDeps); then the real CLI for `run`, `status` and
 * `install-timer`, and the real flock lock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../src/platform/errors.js';
import { Profile } from '../src/agent/profile.js';
import { powerVerdict, readPower } from '../src/agent/schedule/power.js';
import { scheduledRun, type RunDeps, type RunSettings } from '../src/agent/schedule/run.js';
import {
  backoffMs,
  BUSY_BUDGET_MS,
  busyStep,
  doneToday,
  localMidnight,
  MAX_TRIES,
  nextMidnight,
} from '../src/agent/schedule/schedule.js';
import { readState } from '../src/agent/schedule/state.js';
import { tryLock } from '../src/agent/schedule/lock.js';
import type { BackupResult } from '../src/agent/backup/backup.js';
import { agent, cleanup, registered, serverForSuite, tmp, type TestServer } from './helpers/harness.js';

const T0 = new Date(2026, 10, 26, 10, 0, 0).getTime(); // 10:00 local

/** A fake sysfs: supplies = {name: {file: value}}. */
function sysfs(supplies: Record<string, Record<string, string>>): string {
  const root = tmp('sysfs');
  for (const [name, files] of Object.entries(supplies)) {
    const d = join(root, 'sys', 'class', 'power_supply', name);
    mkdirSync(d, { recursive: true });
    for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), `${v}\n`);
  }
  return root;
}
const battery = (capacity: number, status = 'Discharging') => ({
  type: 'Battery',
  present: '1',
  capacity: String(capacity),
  status,
});
const ac = (online: boolean) => ({ type: 'Mains', online: online ? '1' : '0' });

const okResult: BackupResult = {
  snapshots: [{ name: 'datastore-2026-11-26_10:00', source: 'datastore', files: 1, bytes: 1 }],
  files: 1,
  bytes: 1,
  hashedFiles: 1,
  uploadedBlobs: 1,
  uploadedBytes: 1,
  provenBlobs: 0,
  provenBytes: 0,
  sentBytes: 1,
  seconds: 0,
  commitMs: 1,
  warnings: [],
};

function fake(profile: Profile, over: Partial<RunDeps> & { outcomes?: Array<'ok' | number | null | Error> } = {}) {
  let t = T0;
  const calls = { sleeps: [] as number[], pings: 0, backups: 0, locks: 0, released: 0, logs: [] as string[] };
  const outcomes = [...(over.outcomes ?? ['ok'])];
  const deps: RunDeps = {
    now: () => t,
    sleep: async (ms) => {
      calls.sleeps.push(ms);
      t += ms;
    },
    random: () => 0.5,
    power: () => readPower('/nonexistent'),
    ping: async () => {
      calls.pings++;
      return true;
    },
    lock: async (file) => {
      calls.locks++;
      return { file, release: async () => void calls.released++ };
    },
    backup: async () => {
      calls.backups++;
      const o = outcomes.length ? outcomes.shift() : 'ok';
      if (o === 'ok') return okResult;
      if (o instanceof Error) throw o;
      throw new AppError('busy', 'server busy (slots)', { retryAfter: o ?? undefined });
    },
    log: (l) => void calls.logs.push(l),
    ...over,
  };
  return { deps, calls, advance: (ms: number) => (t += ms) };
}

function profileDir(registeredTo: string | null = 'http://127.0.0.1:9'): Profile {
  const p = new Profile(tmp('prof'));
  if (registeredTo)
    p.writeConfig({ server: registeredTo, serial: 'SHF7000900', nickname: 'x', token: 'SHF7000900.secret' });
  return p;
}
const settings = (over: Partial<RunSettings> = {}): RunSettings => ({
  noSleep: true,
  maxSleepMs: 20 * 60_000,
  minBattery: 30,
  sysfsRoot: '/',
  ...over,
});

describe('schedule rules (pure)', () => {
  test('done today means touched since local midnight', () => {
    const midnight = localMidnight(T0);
    assert.equal(new Date(midnight).getHours(), 0);
    assert.equal(doneToday(null, T0), false);
    assert.equal(doneToday(midnight, T0), true);
    assert.equal(doneToday(midnight - 1, T0), false, 'yesterday 23:59:59.999');
    assert.equal(doneToday(T0 - 3600_000, T0), true);
    assert.equal(doneToday(T0 + 3 * 86_400_000, T0), false, 'a stamp days in the future is a clock error');
    assert.equal(nextMidnight(T0) - midnight, 86_400_000);
  });

  test('busy backoff: Retry-After when given, else full jitter doubling from 4 min', () => {
    assert.equal(backoffMs(1, 37, 0.99), 37_000);
    assert.equal(backoffMs(3, 999_999, 0.5), 3_600_000, 'Retry-After capped at an hour');
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffMs(n, undefined, 0.5)),
      [120_000, 240_000, 480_000, 960_000, 1_920_000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffMs(n, undefined, 0)),
      [0, 0, 0, 0, 0],
      'full jitter reaches 0',
    );
    assert.equal(backoffMs(5, undefined, 0.999999), 3_839_996);
    const mean = [1, 2, 3, 4, 5].reduce((a, n) => a + backoffMs(n, undefined, 0.5), 0);
    assert.ok(mean > 55 * 60_000 && mean < 65 * 60_000, 'about an hour in all on average');
  });

  test('busy with Retry-After: as often as the server says, within an hour of waiting', () => {
    let st = { blind: 0, waitedMs: 0 };
    let n = 0;
    for (;;) {
      const step = busyStep(st, 5, 0.5);
      if (step.giveUp) break;
      st = step.state;
      n++;
    }
    assert.equal(n, 720, '720 waits of 5 s = one hour');
    assert.equal(st.waitedMs, BUSY_BUDGET_MS);
    const blind = [1, 2, 3, 4, 5, 6].reduce(
      (acc) => {
        const s2 = busyStep(acc.st, undefined, 0.5);
        return { st: s2.state, give: [...acc.give, s2.giveUp] };
      },
      { st: { blind: 0, waitedMs: 0 }, give: [] as boolean[] },
    );
    assert.deepEqual(
      blind.give,
      [false, false, false, false, false, true],
      'without Retry-After: the 6th busy try gives up',
    );
    assert.equal(busyStep({ blind: 0, waitedMs: 0 }, 0, 0.5).waitMs, 1000, 'Retry-After 0 still waits a second');
  });

  test('power: battery, mains, USB and no supply at all', () => {
    const cases: Array<[Record<string, Record<string, string>>, boolean, string]> = [
      [{ BAT0: battery(20), AC: ac(false) }, false, 'on battery at 20 % (below 30 %)'],
      [{ BAT0: battery(20, 'Charging'), AC: ac(true) }, true, 'on mains power'],
      [{ BAT0: battery(45), AC: ac(false) }, true, 'on battery at 45 %'],
      [{ BAT0: battery(29) }, false, 'on battery at 29 % (below 30 %)'],
      [{ BAT0: battery(10, 'Full') }, true, 'on mains power'],
      [{ BAT0: battery(5), usb: { type: 'USB', online: '1' } }, true, 'on mains power'],
      [{ BAT0: battery(5), BAT1: battery(80), AC: ac(false) }, true, 'on battery at 80 %'],
      [{}, true, 'no battery (mains power)'],
    ];
    for (const [supplies, go, reason] of cases) {
      const root = sysfs(supplies);
      const v = powerVerdict(readPower(root), 30);
      assert.equal(v.go, go, JSON.stringify(supplies));
      assert.equal(v.reason, reason);
      cleanup(root);
    }
    const low = sysfs({ BAT0: battery(20), AC: ac(false) });
    assert.equal(powerVerdict(readPower(low), 15).go, true, 'threshold is configurable');
    cleanup(low);
  });
});

describe('scheduledRun with a fake clock', () => {
  test('skip 1: already backed up today; nothing else is asked', async () => {
    const p = profileDir();
    writeFileSync(p.doneFile, '');
    utimesSync(p.doneFile, new Date(T0 - 3600_000), new Date(T0 - 3600_000));
    const { deps, calls } = fake(p);
    const r = await scheduledRun(p, settings(), deps);
    assert.deepEqual([r.outcome, r.exitCode, r.reason], ['skipped', 0, 'already backed up today']);
    assert.equal(calls.pings + calls.backups + calls.locks, 0);
    const st = readState(p);
    assert.equal(st.outcome, 'skipped');
    assert.equal(st.reason, 'already backed up today');
    assert.equal(st.nextAttempt, nextMidnight(T0));
    cleanup(p.dir);
  });

  test('done yesterday is not done today', async () => {
    const p = profileDir();
    writeFileSync(p.doneFile, '');
    const y = new Date(localMidnight(T0) - 60_000);
    utimesSync(p.doneFile, y, y);
    const { deps, calls } = fake(p);
    const r = await scheduledRun(p, settings(), deps);
    assert.equal(r.outcome, 'ok');
    assert.equal(calls.backups, 1);
    cleanup(p.dir);
  });

  test('skip 2: on battery below the threshold; the server is not even pinged', async () => {
    const p = profileDir();
    const root = sysfs({ BAT0: battery(12), AC: ac(false) });
    const { deps, calls } = fake(p, { power: readPower });
    const r = await scheduledRun(p, settings({ sysfsRoot: root }), deps);
    assert.deepEqual([r.outcome, r.exitCode], ['skipped', 0]);
    assert.match(readState(p).reason!, /on battery at 12 %/);
    assert.equal(calls.pings, 0);
    const again = await scheduledRun(
      p,
      settings({ sysfsRoot: root, minBattery: 10 }),
      fake(p, { power: readPower }).deps,
    );
    assert.equal(again.outcome, 'ok', 'a lower threshold lets it run');
    cleanup(p.dir, root);
  });

  test('the server hears about failures and battery skips, not about "done today" or success', async () => {
    const heard: string[] = [];
    const report = async (_p: Profile, outcome: string, reason: string) => void heard.push(`${outcome}: ${reason}`);
    const p = profileDir();
    const root = sysfs({ BAT0: battery(12), AC: ac(false) });
    await scheduledRun(p, settings({ sysfsRoot: root }), fake(p, { power: readPower, report }).deps);
    await scheduledRun(p, settings(), fake(p, { report, outcomes: [new Error('hash mismatch in blob 12ab')] }).deps);
    await scheduledRun(p, settings(), fake(p, { report }).deps);
    await scheduledRun(p, settings(), fake(p, { report }).deps);
    assert.equal(heard.length, 2, heard.join('\n'));
    assert.match(heard[0], /^skipped: on battery at 12 %/);
    assert.equal(heard[1], 'failed: hash mismatch in blob 12ab');
    cleanup(p.dir, root);
  });

  test('skip 3: not registered, or the server does not answer', async () => {
    const unreg = profileDir(null);
    const a = fake(unreg);
    const r1 = await scheduledRun(unreg, settings(), a.deps);
    assert.deepEqual([r1.outcome, r1.exitCode], ['skipped', 0]);
    assert.match(r1.reason, /not registered/);
    assert.equal(a.calls.pings, 0);

    const p = profileDir();
    const b = fake(p, { ping: async () => false });
    const r2 = await scheduledRun(p, settings(), b.deps);
    assert.deepEqual([r2.outcome, r2.exitCode], ['skipped', 0]);
    assert.match(readState(p).reason!, /does not answer/);
    assert.equal(b.calls.backups + b.calls.locks, 0);
    assert.equal(readState(p).nextAttempt, T0 + 15 * 60_000, 'next attempt: the next tick');
    cleanup(unreg.dir, p.dir);
  });

  test('stagger sleep, then "done today" is checked again', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, {
      sleep: async (ms) => {
        calls.sleeps.push(ms);
        writeFileSync(p.doneFile, ''); // another run finished meanwhile
        utimesSync(p.doneFile, new Date(T0), new Date(T0));
      },
    });
    const r = await scheduledRun(p, settings({ noSleep: false }), deps);
    assert.deepEqual(calls.sleeps, [10 * 60_000], 'random 0.5 of 20 min');
    assert.equal(r.outcome, 'skipped');
    assert.equal(calls.backups + calls.locks, 0);
    cleanup(p.dir);
  });

  test('busy with Retry-After: waits as told, then backs up; lock taken once and released', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, { outcomes: [30, 45, 'ok'] });
    const r = await scheduledRun(p, settings({ noSleep: false, maxSleepMs: 60_000 }), deps);
    assert.deepEqual([r.outcome, r.exitCode, r.tries], ['ok', 0, 3]);
    assert.deepEqual(calls.sleeps, [30_000, 30_000, 45_000]);
    assert.equal(r.sleptMs, 105_000);
    assert.deepEqual([calls.locks, calls.released], [1, 1]);
    assert.equal(readState(p).nextAttempt, nextMidnight(T0 + 105_000));
    cleanup(p.dir);
  });

  test('busy without Retry-After: full-jitter backoff, 6 tries, then give up with exit 4 until the next tick', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, { outcomes: [null, null, null, null, null, null, 'ok'] });
    const r = await scheduledRun(p, settings(), deps);
    assert.equal(MAX_TRIES, 6);
    assert.deepEqual([r.outcome, r.exitCode, r.tries], ['busy', 4, 6]);
    assert.equal(calls.backups, 6);
    assert.deepEqual(calls.sleeps, [120_000, 240_000, 480_000, 960_000, 1_920_000]);
    const st = readState(p);
    assert.equal(st.outcome, 'busy');
    assert.match(st.reason!, /after 6 tries \(62 min of waiting; last answer: server busy \(slots\)\)/);
    assert.equal(st.nextAttempt, T0 + 3_720_000 + 15 * 60_000);
    assert.equal(calls.released, 1);
    cleanup(p.dir);
  });

  test('busy with a long Retry-After: give up when the next wait would pass the hour', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, { outcomes: [1200, 1200, 1200, 1200, 'ok'] });
    const r = await scheduledRun(p, settings(), deps);
    assert.deepEqual([r.outcome, r.exitCode, r.tries], ['busy', 4, 4]);
    assert.deepEqual(calls.sleeps, [1_200_000, 1_200_000, 1_200_000]);
    cleanup(p.dir);
  });

  test('another error fails the run (exit 1) and releases the lock', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, { outcomes: [new AppError('unauthorized', 'unknown or wrong token')] });
    const r = await scheduledRun(p, settings(), deps);
    assert.deepEqual([r.outcome, r.exitCode], ['failed', 1]);
    assert.equal(readState(p).reason, 'unknown or wrong token');
    assert.equal(calls.released, 1);
    cleanup(p.dir);
  });

  test('the previous lock holder finished today: skipped after taking the lock, lock released', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, {
      lock: async (file) => {
        writeFileSync(p.doneFile, '');
        utimesSync(p.doneFile, new Date(T0), new Date(T0));
        return { file, release: async () => void calls.released++ };
      },
    });
    const r = await scheduledRun(p, settings(), deps);
    assert.deepEqual([r.outcome, r.reason], ['skipped', 'already backed up today']);
    assert.deepEqual([calls.backups, calls.released], [0, 1]);
    cleanup(p.dir);
  });

  test('lock held elsewhere: exit 5 at once, no backup', async () => {
    const p = profileDir();
    const { deps, calls } = fake(p, { lock: async () => null });
    const r = await scheduledRun(p, settings(), deps);
    assert.deepEqual([r.outcome, r.exitCode], ['locked', 5]);
    assert.equal(calls.backups, 0);
    cleanup(p.dir);
  });
});

describe('the run lock (flock)', () => {
  test('exclusive while held, free after release and after kill -9 of its holder', async () => {
    const dir = tmp('lock');
    const file = join(dir, 'lock', 'ds-backup.run');
    const a = await tryLock(file);
    assert.ok(a);
    assert.equal(await tryLock(file), null, 'second taker refused while held');
    await a.release();
    const b = await tryLock(file);
    assert.ok(b, 'free after release');
    await b.release();

    // A holder process killed with SIGKILL: the lock goes with it.
    const code = `import('${join(import.meta.dirname, '..', 'dist', 'agent', 'schedule', 'lock.js')}').then(async (m) => { const l = await m.tryLock(${JSON.stringify(file)}); process.stdout.write(l ? 'held\\n' : 'busy\\n'); setInterval(() => {}, 1000); });`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const first = await new Promise<string>((res) =>
      child.stdout.once('data', (c: Buffer) => res(c.toString().trim())),
    );
    assert.equal(first, 'held');
    assert.equal(await tryLock(file), null);
    const gone = new Promise((res) => child.on('close', res));
    child.kill('SIGKILL');
    await gone;
    let c = null;
    for (let i = 0; i < 100 && !c; i++) {
      c = await tryLock(file);
      if (!c) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(c, 'lock free after kill -9 of the holder');
    await c.release();
    cleanup(dir);
  });
});

describe('ds-backup run / status / install-timer (real CLI)', () => {
  let srv: TestServer;
  serverForSuite((s) => (srv = s));

  test('low battery skip, backup, "done today" skip, status, and exit 5 while the lock is held', async () => {
    const { profile } = await registered(srv.url, 'SHF7000910', { entries: 8 });
    const low = sysfs({ BAT0: battery(18), AC: ac(false) });
    const r1 = await agent(['run', '--profile', profile, '--no-sleep', '--sysfs-root', low, '--json']);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stderr, /skipped: on battery at 18 %/);
    assert.equal((JSON.parse(r1.stdout) as { outcome: string }).outcome, 'skipped');

    const st1 = await agent(['status', '--profile', profile, '--json']);
    const s1 = JSON.parse(st1.stdout) as {
      registered: boolean;
      lastSuccess: string | null;
      lastOutcome: string;
      lastReason: string;
      pending: boolean;
      server: string;
    };
    assert.deepEqual(
      [s1.registered, s1.lastSuccess, s1.lastOutcome, s1.pending, s1.server],
      [true, null, 'skipped', true, srv.url],
    );
    assert.match(s1.lastReason, /battery/);

    // Lock held by another process (as the 2008 scripts did it): exit 5 at once.
    mkdirSync(join(profile, 'lock'), { recursive: true });
    // -o: only flock itself holds the lock (not its sleep), so killing it frees the lock.
    const holder = spawn('flock', ['-o', join(profile, 'lock', 'ds-backup.run'), 'cat'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    for (let i = 0; i < 100; i++) {
      const probe = await new Promise<number | null>((res) =>
        spawn('flock', ['-n', join(profile, 'lock', 'ds-backup.run'), 'true']).on('close', res),
      );
      if (probe !== 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const locked = await agent(['run', '--profile', profile, '--no-sleep']);
    const holderGone = new Promise((res) => holder.on('close', res));
    holder.kill('SIGKILL');
    holder.stdin.end(); // and its cat ends too
    await holderGone;
    assert.equal(locked.code, 5, locked.stderr);
    assert.match(locked.stderr, /another ds-backup run holds .*lock\/ds-backup\.run/);

    const r2 = await agent(['run', '--profile', profile, '--no-sleep', '--json']);
    assert.equal(r2.code, 0, r2.stderr);
    const o2 = JSON.parse(r2.stdout) as { outcome: string; backup: { snapshots: unknown[] } };
    assert.equal(o2.outcome, 'ok');
    assert.equal(o2.backup.snapshots.length, 1);

    const r3 = await agent(['run', '--profile', profile]);
    assert.equal(r3.code, 0);
    assert.match(r3.stderr, /skipped: already backed up today/);

    const st2 = await agent(['status', '--profile', profile]);
    assert.equal(st2.code, 0);
    assert.match(st2.stdout, /registered: +yes, SHF7000910/);
    assert.match(st2.stdout, /last run: .*skipped — already backed up today/);
    assert.match(st2.stdout, /pending: +no, backed up today/);
    const s2 = JSON.parse((await agent(['status', '--profile', profile, '--json'])).stdout) as {
      lastSuccess: string;
      nextAttempt: string;
    };
    assert.ok(Date.parse(s2.nextAttempt) >= nextMidnight(Date.now()) - 1);
    assert.ok(Math.abs(Date.parse(s2.lastSuccess) - Date.now()) < 600_000);
    cleanup(profile, low);
  });

  test('unreachable server: skipped, exit 0', async () => {
    const p = profileDir('http://127.0.0.1:9');
    mkdirSync(p.datastore, { recursive: true });
    const r = await agent(['run', '--profile', p.dir, '--no-sleep']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipped: the server http:\/\/127\.0\.0\.1:9 does not answer/);
    assert.match(readFileSync(join(p.stateDir, 'state.json'), 'utf8'), /does not answer/);
    cleanup(p.dir);
  });

  test('install-timer --dry-run: systemd units and the crontab line, nothing written', async () => {
    const dir = tmp('timer');
    const env = { XDG_CONFIG_HOME: join(dir, 'config') };
    const r = await agent(
      ['install-timer', '--systemd', '--dry-run', '--json', '--profile', join(dir, 'my profile')],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as {
      mode: string;
      files: Array<{ path: string; content: string }>;
      commands: string[][];
    };
    assert.equal(p.mode, 'systemd');
    const [svc, timer] = p.files;
    assert.equal(svc.path, join(dir, 'config', 'systemd', 'user', 'ds-backup.service'));
    assert.match(svc.content, /^Nice=19$/m);
    assert.match(svc.content, /^IOSchedulingClass=idle$/m);
    assert.match(svc.content, /^Type=oneshot$/m);
    assert.match(svc.content, /^SuccessExitStatus=4 5$/m);
    assert.match(
      svc.content,
      new RegExp(`^ExecStart=\\S+node \\S+/bin/ds-backup\\.js run --profile "${dir}/my profile"$`, 'm'),
    );
    assert.match(timer.content, /^OnUnitActiveSec=15min$/m);
    assert.match(timer.content, /^WantedBy=timers\.target$/m);
    assert.deepEqual(p.commands[1], ['systemctl', '--user', 'enable', '--now', 'ds-backup.timer']);
    const text = await agent(['install-timer', '--systemd', '--dry-run'], env);
    assert.match(text.stdout, /would run: systemctl --user daemon-reload/);

    const cron = await agent(['install-timer', '--cron', '--profile', join(dir, 'p')]);
    assert.equal(cron.code, 0);
    assert.match(
      cron.stdout,
      new RegExp(
        `^\\*/15 \\* \\* \\* \\* nice -n 19 ionice -c 3 \\S+ \\S+/bin/ds-backup\\.js run --profile ${dir}/p >>${dir}/p/ds-backup/run\\.log 2>&1$`,
        'm',
      ),
    );
    const both = await agent(['install-timer', '--cron', '--systemd']);
    assert.equal(both.code, 2);
    cleanup(dir);
  });
});
