/**
 * The replica's policy decisions (src/server/replica/policy.ts), pure and
 * given the time: bandwidth strings, the night window in local time (TZ is
 * set to UTC below so "local" is known), and the deletion grace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env.TZ = 'UTC';
const { graceDecision, parseBandwidth, parseWindow, windowAt } = await import('../src/server/replica/policy.js');

test('bandwidth: units, bits, no cap, nonsense refused', () => {
  assert.equal(parseBandwidth('2MB/s'), 2_000_000);
  assert.equal(parseBandwidth('500KB/s'), 500_000);
  assert.equal(parseBandwidth('1.5MiB/s'), 1_572_864);
  assert.equal(parseBandwidth('16Mbit/s'), 2_000_000);
  assert.equal(parseBandwidth('250000'), 250_000);
  for (const none of ['0', '', 'unlimited']) assert.equal(parseBandwidth(none), 0);
  for (const bad of ['fast', '2 parsecs', '-1MB/s', '10B/s'])
    assert.throws(() => parseBandwidth(bad), /replicaBandwidth/);
});

test('window: open at night across midnight, closed by day, with its times and reasons', () => {
  const w = parseWindow('22:00-06:00');
  assert.ok(w);
  const night = windowAt(w, Date.parse('2027-03-01T23:30:00Z'));
  assert.equal(night.open, true);
  assert.equal(night.openedAt, Date.parse('2027-03-01T22:00:00Z'));
  assert.equal(night.closesAt, Date.parse('2027-03-02T06:00:00Z'));
  const early = windowAt(w, Date.parse('2027-03-02T05:59:00Z'));
  assert.equal(early.open, true);
  assert.equal(early.openedAt, Date.parse('2027-03-01T22:00:00Z'));
  assert.equal(early.closesAt, Date.parse('2027-03-02T06:00:00Z'));
  const day = windowAt(w, Date.parse('2027-03-02T06:00:00Z'));
  assert.equal(day.open, false);
  assert.equal(day.opensAt, Date.parse('2027-03-02T22:00:00Z'));
  assert.match(day.reason, /outside the replication window 22:00-06:00 \(it is 06:00 here; it opens at 22:00\)/);
  const lunch = windowAt(parseWindow('12:00-13:30'), Date.parse('2027-03-02T12:10:00Z'));
  assert.deepEqual([lunch.open, lunch.closesAt], [true, Date.parse('2027-03-02T13:30:00Z')]);
  assert.equal(
    windowAt(parseWindow('12:00-13:30'), Date.parse('2027-03-02T14:00:00Z')).opensAt,
    Date.parse('2027-03-03T12:00:00Z'),
  );
  for (const always of ['', 'always', '00:00-24:00']) {
    assert.equal(parseWindow(always), null);
    assert.equal(windowAt(parseWindow(always), 0).open, true);
  }
  for (const bad of ['night', '25:00-06:00', '22:61-06:00']) assert.throws(() => parseWindow(bad), /replicaWindow/);
});

test('grace: a record gone locally is deleted off-site only once the grace has passed', () => {
  const DAY = 86_400_000;
  const since = Date.parse('2027-03-01T00:00:00Z');
  const d29 = graceDecision(since, since + 29 * DAY, 30);
  assert.equal(d29.delete, false);
  assert.match(d29.reason, /kept off-site 1 more day/);
  const d30 = graceDecision(since, since + 30 * DAY, 30);
  assert.equal(d30.delete, true);
  assert.match(d30.reason, /beyond the 30-day grace/);
  assert.equal(graceDecision(since, since, 0).delete, true, 'grace 0: the next run deletes');
  assert.equal(graceDecision(since, since - DAY, 30).delete, false, 'a clock set back deletes nothing');
});
