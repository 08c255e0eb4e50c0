/**
 * Traffic control: the pure decision, lease expiry and heartbeats on a fake
 * clock, the priority rule (oldest last success first, freed slots held
 * briefly for it), the Retry-After spread, the bandwidth token bucket, and
 * over real HTTP: 503 + Retry-After, priority from devices.last_backup_at
 * and GET /api/v1/status for an admin token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../src/platform/errors.js';
import { Admission, decide, DEFAULT_POLICY, type AdmissionPolicy } from '../src/server/admission/admission.js';
import {
  HOLD_BEFORE_MS,
  HOLD_MS,
  isAhead,
  outranks,
  MAX_RETRY_S,
  MIN_RETRY_S,
  slotsRetryAfter,
} from '../src/server/admission/admission-queue.js';
import { TokenBucket } from '../src/server/admission/bandwidth.js';
import { cleanup, registered, startServer, token, type TestServer } from './helpers/harness.js';

const DAY = 86_400_000;

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function admission(policy: Partial<AdmissionPolicy> = {}, random = () => 0.5) {
  const c = clock();
  const a = new Admission({ ...DEFAULT_POLICY, ...policy }, () => ({ load1: 0.1, diskUsedPct: 10 }), c.now, random);
  return { a, c };
}

function refusal(fn: () => unknown, code = 'busy'): AppError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AppError && e.code === code, `expected ${code}, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

describe('decide() (pure)', () => {
  const p = DEFAULT_POLICY;
  test('disk, load, slots, priority, grant — in that order', () => {
    assert.deepEqual(decide(p, { active: 0, load1: 9, diskUsedPct: 95 }, 0).grant, false);
    assert.equal((decide(p, { active: 0, load1: 9, diskUsedPct: 95 }, 0) as { reason: string }).reason, 'disk');
    assert.equal((decide(p, { active: 0, load1: 5.5, diskUsedPct: 50 }, 0) as { reason: string }).reason, 'load');
    assert.equal((decide(p, { active: 10, load1: 1, diskUsedPct: 50 }, 0) as { reason: string }).reason, 'slots');
    assert.equal(
      (decide(p, { active: 9, load1: 1, diskUsedPct: 50, held: 1 }, 0) as { reason: string }).reason,
      'priority',
    );
    assert.deepEqual(decide(p, { active: 9, load1: p.loadLimit, diskUsedPct: 90 }, 0), { grant: true });
    assert.deepEqual(decide(p, { active: 8, load1: 1, diskUsedPct: 50, held: 1 }, 0), { grant: true });
  });

  test('Retry-After grows with the queue position and is spread by jitter', () => {
    assert.equal(slotsRetryAfter(0, 10, 30, 0.5), 30);
    assert.equal(slotsRetryAfter(20, 10, 30, 0.5), 90, 'two rounds of leases ahead');
    assert.equal(slotsRetryAfter(0, 10, 30, 0), 15);
    assert.equal(slotsRetryAfter(0, 10, 30, 0.999), 45);
    assert.equal(slotsRetryAfter(0, 10, 0.2, 0.5), 1, 'the head of the queue may poll every second');
    assert.equal(slotsRetryAfter(10, 10, 0.2, 0.5), MIN_RETRY_S, 'the rest no more often than every 5 s');
    assert.equal(slotsRetryAfter(10_000, 10, 30, 0.5), MAX_RETRY_S);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => slotsRetryAfter(5, 10, 30, i / 50)));
    assert.ok(spread.size >= 20, `waiters come back at ${spread.size} different times`);
  });

  test('priority order: never backed up, then oldest success, then first refused', () => {
    const never = { deviceId: 9, lastSuccess: null, firstRefusedAt: 500 };
    const week = { deviceId: 1, lastSuccess: 1000, firstRefusedAt: 100 };
    const yesterday = { deviceId: 2, lastSuccess: 1000 + 6 * DAY, firstRefusedAt: 0 };
    assert.ok(isAhead(never, week));
    assert.ok(isAhead(week, yesterday));
    assert.ok(!isAhead(yesterday, week));
    assert.ok(isAhead({ ...week, firstRefusedAt: 50 }, week), 'FIFO among equals');
    assert.ok(outranks(never, week) && outranks(week, yesterday));
    assert.ok(
      !outranks({ lastSuccess: 1000 }, { lastSuccess: 2000 }),
      'the same day: no one holds a slot for the other',
    );
  });
});

describe('Admission (fake clock)', () => {
  test('at most N leases; a silent client frees its slot after the lease timeout', () => {
    const { a, c } = admission({ maxConcurrent: 2, leaseTimeoutMs: 120_000 });
    const l1 = a.request(1, 'A');
    a.request(2, 'B');
    const e = refusal(() => a.request(3, 'C'));
    assert.equal(e.retryAfter, 1, 'no lease completed yet and the live ones are young: come back in a second');
    assert.equal(a.counters.refusedSlots, 1);
    c.advance(100_000);
    a.touch(l1.id, 1); // A heartbeats, B stays silent
    c.advance(20_001);
    assert.equal(a.active().length, 1, 'B expired, A kept alive by its heartbeat');
    assert.equal(a.counters.expired, 1);
    assert.throws(
      () => a.touch('nope', 2),
      (x: AppError) => x.code === 'lease_expired',
    );
    a.request(3, 'C');
    c.advance(121_000);
    assert.equal(a.active().length, 0, 'no permanent leaks');
    assert.equal(a.peakActive, 2);
  });

  test('asking again replaces the own lease (a restarted agent does not wait for its ghost)', () => {
    const { a } = admission({ maxConcurrent: 1 });
    const first = a.request(1, 'A');
    const second = a.request(1, 'A');
    assert.notEqual(first.id, second.id);
    assert.equal(a.active().length, 1);
    assert.equal(a.counters.replaced, 1);
    assert.throws(() => a.touch(first.id, 1));
  });

  test('priority: a freed slot goes to the laptop whose last backup is oldest, held briefly for it', () => {
    const { a, c } = admission({ maxConcurrent: 2 });
    a.avgLeaseSec = 30; // leases typically last 30 s
    const now = c.now();
    const l1 = a.request(1, 'A', { lastSuccess: now - DAY });
    a.request(2, 'B', { lastSuccess: now - DAY });
    const yesterday = refusal(() => a.request(3, 'YEST', { lastSuccess: now - DAY }));
    const week = refusal(() => a.request(4, 'WEEK', { lastSuccess: now - 7 * DAY }));
    assert.ok(week.retryAfter! <= yesterday.retryAfter!, 'the more starved laptop is told to come back no later');
    a.release(l1.id);
    c.advance(week.retryAfter! * 1000 - 1000); // WEEK is due in a second
    // The slot is free, but YEST asks first: it is held for WEEK.
    const held = refusal(() => a.request(3, 'YEST', { lastSuccess: now - DAY }));
    assert.match(held.message, /held for laptops waiting longer/);
    assert.equal(a.counters.refusedPriority, 1);
    // A newcomer that backed up yesterday waits too.
    refusal(() => a.request(5, 'NEW', { lastSuccess: now - DAY }));
    const w = a.request(4, 'WEEK', { lastSuccess: now - 7 * DAY });
    assert.equal(w.serial, 'WEEK');
    assert.equal(a.snapshot().waiting, 2, 'YEST and NEW still wait');
  });

  test('a never-backed-up laptop beats everyone; no slot idles for a waiter far from due or gone', () => {
    const { a, c } = admission({ maxConcurrent: 1 });
    a.avgLeaseSec = 30;
    const l = a.request(1, 'A', { lastSuccess: c.now() });
    const ghost = refusal(() => a.request(9, 'NEVER', { lastSuccess: null }));
    refusal(() => a.request(2, 'OLD', { lastSuccess: c.now() - 30 * DAY }));
    a.release(l.id);
    c.advance(ghost.retryAfter! * 1000 - 1500);
    refusal(() => a.request(2, 'OLD', { lastSuccess: c.now() - 30 * DAY })); // held: NEVER is due now
    c.advance(HOLD_MS + 2000);
    const got = a.request(2, 'OLD', { lastSuccess: c.now() - 30 * DAY });
    assert.equal(got.serial, 'OLD', 'the hold lapsed: no slot is kept for a laptop that went away');

    const b = admission({ maxConcurrent: 1 });
    b.a.avgLeaseSec = 30;
    const l2 = b.a.request(1, 'A', { lastSuccess: b.c.now() });
    const far = refusal(() => b.a.request(9, 'NEVER', { lastSuccess: null }));
    assert.ok(far.retryAfter! * 1000 > HOLD_BEFORE_MS + 1000);
    b.a.release(l2.id);
    assert.equal(
      b.a.request(2, 'OLD', { lastSuccess: b.c.now() - DAY }).serial,
      'OLD',
      'NEVER is not due for a while: the free slot is used',
    );
  });

  test('load and disk refusals are counted and do not queue', () => {
    const c = clock();
    let sys = { load1: 7, diskUsedPct: 10 };
    const a = new Admission(
      DEFAULT_POLICY,
      () => sys,
      c.now,
      () => 0,
    );
    assert.equal(refusal(() => a.request(1, 'A', { lastSuccess: c.now() })).retryAfter, 120);
    sys = { load1: 0, diskUsedPct: 95 };
    // A disk over the limit is said as such (507 disk_full), not as a busy server.
    assert.equal(refusal(() => a.request(1, 'A'), 'disk_full').retryAfter, 1800);
    assert.deepEqual([a.counters.refusedLoad, a.counters.refusedDisk, a.snapshot().waiting], [1, 1, 0]);
  });

  test('Retry-After follows the typical lease length', () => {
    const { a, c } = admission({ maxConcurrent: 1 });
    for (let i = 0; i < 30; i++) {
      const l = a.request(1, 'A');
      c.advance(2000);
      a.release(l.id);
    }
    assert.ok(Math.abs(a.avgLeaseSec - 2) < 0.01);
    a.request(1, 'A');
    assert.equal(refusal(() => a.request(2, 'B')).retryAfter, 2, 'two-second leases: come back in about two seconds');
  });
});

describe('TokenBucket (fake clock)', () => {
  test('reservations pace bytes at the rate after the burst, FIFO', async () => {
    let t = 0;
    const slept: number[] = [];
    const b = new TokenBucket(
      1000,
      500,
      () => t,
      async (ms) => {
        slept.push(ms);
        t += ms;
      },
    );
    assert.equal(b.reserve(500), 0, 'the burst passes at once');
    assert.equal(b.reserve(1000), 1000, 'then one second per 1000 bytes');
    assert.equal(b.reserve(500), 1500, 'queued behind the previous reservation');
    t += 10_000;
    assert.equal(b.reserve(100), 0, 'idle time refills (up to the burst)');
    const chunks: Buffer[] = [];
    const src = (async function* () {
      yield Buffer.alloc(3000);
    })();
    t = 100_000;
    for await (const c of new TokenBucket(
      2000,
      1000,
      () => t,
      async (ms) => {
        slept.push(ms);
        t += ms;
      },
    ).throttle(src))
      chunks.push(c);
    assert.equal(Buffer.concat(chunks).length, 3000);
    assert.equal(t - 100_000, 1000, '3000 bytes at 2000 B/s after a 1000-byte burst: 1 s');
    const off = new TokenBucket(0);
    const same = (async function* () {})();
    assert.equal(off.throttle(same), same, 'rate 0 = no cap');
  });
});

describe('admission over HTTP', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ maxConcurrent: 1 });
  });
  after(async () => {
    await srv.close();
    cleanup(srv.root);
  });

  const post = (t: string) =>
    fetch(`${srv.url}/api/v1/backups`, { method: 'POST', headers: { authorization: `Bearer ${t}` } });

  test('503 with Retry-After; priority from last_backup_at; counters at GET /api/v1/status for an admin token', async () => {
    const a = await registered(srv.url, 'SHF7000950', { entries: 2 });
    const b = await registered(srv.url, 'SHF7000951', { entries: 2 });
    const c = await registered(srv.url, 'SHF7000952', { entries: 2 });
    const db = srv.ctx.store.db;
    db.prepare('UPDATE devices SET last_backup_at = ? WHERE serial = ?').run(Date.now() - DAY, 'SHF7000951');
    db.prepare('UPDATE devices SET last_backup_at = ? WHERE serial = ?').run(Date.now() - 9 * DAY, 'SHF7000952');

    srv.ctx.admission.avgLeaseSec = 0.1; // short leases: waiters are due within seconds, so their slots are held
    const r1 = await post(token(a.profile));
    assert.equal(r1.status, 201);
    const { lease } = (await r1.json()) as { lease: string };
    const rb = await post(token(b.profile));
    assert.equal(rb.status, 503);
    assert.match(rb.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal(((await rb.json()) as { error: string }).error, 'busy');
    assert.equal((await post(token(c.profile))).status, 503);
    await fetch(`${srv.url}/api/v1/backups/${lease}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token(a.profile)}` },
    });
    const again = await post(token(b.profile));
    assert.equal(again.status, 503, 'the slot is held for the laptop that missed nine days');
    await again.body?.cancel();
    assert.equal((await post(token(c.profile))).status, 201);

    assert.equal((await fetch(`${srv.url}/api/v1/status`)).status, 401);
    assert.equal(
      (await fetch(`${srv.url}/api/v1/status`, { headers: { authorization: `Bearer ${token(a.profile)}` } })).status,
      401,
      'a device token is not an admin token',
    );
    const admin = srv.ctx.store.admin.newToken();
    const st = await fetch(`${srv.url}/api/v1/status`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(st.status, 200);
    const s = (await st.json()) as {
      admission: {
        active: number;
        peakActive: number;
        waiting: number;
        counters: Record<string, number>;
        latencyMs: { count: number; p50: number; p99: number };
        policy: { maxConcurrent: number };
      };
      bandwidth: { limit: number };
      system: { load1: number };
    };
    assert.equal(s.admission.policy.maxConcurrent, 1);
    assert.equal(s.admission.active, 1);
    assert.equal(s.admission.peakActive, 1);
    assert.equal(s.admission.waiting, 1);
    assert.deepEqual(
      [
        s.admission.counters.granted,
        s.admission.counters.refusedSlots,
        s.admission.counters.refusedPriority,
        s.admission.counters.released,
      ],
      [2, 2, 1, 1],
    );
    // 5 POSTs; the last one's onResponse hook may still be running.
    assert.ok(
      s.admission.latencyMs.count >= 4 && s.admission.latencyMs.count <= 5,
      `latency samples ${s.admission.latencyMs.count}`,
    );
    assert.ok(s.admission.latencyMs.p99 >= s.admission.latencyMs.p50 && s.admission.latencyMs.p50 > 0);
    assert.equal(s.bandwidth.limit, 0);
    assert.equal(typeof s.system.load1, 'number');
    cleanup(a.profile, b.profile, c.profile);
  });
});
