/**
 * Issue #16 §9: the admission load limit is per core (load average ÷ cores)
 * and never starves a laptop whose last backup is days old — the pure rule
 * with its reasons, decide(), and the Admission class on a fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVerdict, OVERDUE_MS, perCoreLoad } from '../src/server/admission/load-policy.js';
import { Admission, decide, DEFAULT_POLICY } from '../src/server/admission/admission.js';
import { AppError } from '../src/platform/errors.js';

const NOW = 1_800_000_000_000;
const HOUR = 3600_000;
const base = { limitPerCore: 2, now: NOW, lastSuccess: NOW - HOUR };

test('per core: the same load average is high on one core and fine on four', () => {
  assert.equal(perCoreLoad(6, 4), 1.5);
  assert.equal(perCoreLoad(6, 0), 6, 'no core count: one');
  assert.deepEqual(loadVerdict({ ...base, load1: 6, cores: 4 }), { ok: true, reason: 'under-limit', perCore: 1.5 });
  assert.deepEqual(loadVerdict({ ...base, load1: 6, cores: 1 }), { ok: false, reason: 'load', perCore: 6 });
  assert.equal(loadVerdict({ ...base, load1: 8, cores: 4 }).ok, true, 'exactly at the limit');
  assert.equal(loadVerdict({ ...base, load1: 8.1, cores: 4 }).ok, false);
});

test('an overdue laptop (last backup days old, or none) is let through a high load, with its reason', () => {
  const high = { ...base, load1: 50, cores: 2 };
  assert.equal(loadVerdict({ ...high, lastSuccess: NOW - OVERDUE_MS + HOUR }).ok, false, 'a day and a bit: waits');
  assert.deepEqual(loadVerdict({ ...high, lastSuccess: NOW - OVERDUE_MS }), {
    ok: true,
    reason: 'overdue',
    perCore: 25,
  });
  assert.deepEqual(loadVerdict({ ...high, lastSuccess: NOW - 9 * 86_400_000 }).reason, 'overdue');
  assert.deepEqual(loadVerdict({ ...high, lastSuccess: null }).reason, 'overdue', 'never backed up');
});

test('decide(): load per core; overdue passes the load but not the slots or the disk', () => {
  const p = { ...DEFAULT_POLICY, maxConcurrent: 2 };
  const s = { active: 0, load1: 10, diskUsedPct: 10, cores: 2, now: NOW };
  assert.equal((decide(p, { ...s, lastSuccess: NOW - HOUR }, 0) as { reason: string }).reason, 'load');
  assert.deepEqual(decide(p, { ...s, load1: 4 }, 0), { grant: true }, '4 on 2 cores is 2 per core');
  assert.deepEqual(decide(p, { ...s, lastSuccess: NOW - 3 * 86_400_000 }, 0), { grant: true });
  assert.equal((decide(p, { ...s, active: 2, lastSuccess: null }, 0) as { reason: string }).reason, 'slots');
  assert.equal((decide(p, { ...s, diskUsedPct: 99, lastSuccess: null }, 0) as { reason: string }).reason, 'disk');
});

test('Admission: under a constant high load, the laptop backed up an hour ago waits, the one from last week goes', () => {
  const a = new Admission(
    DEFAULT_POLICY,
    () => ({ load1: 40, cores: 8, diskUsedPct: 10 }),
    () => NOW,
    () => 0,
  );
  assert.throws(
    () => a.request(1, 'RECENT', { lastSuccess: NOW - HOUR }),
    (e) => e instanceof AppError && e.code === 'busy' && /load/.test(e.message),
  );
  assert.equal(a.request(2, 'WEEK', { lastSuccess: NOW - 7 * 86_400_000 }).serial, 'WEEK');
  assert.deepEqual([a.counters.refusedLoad, a.counters.granted], [1, 1]);
});
