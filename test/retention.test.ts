/**
 * The pure rules: thinning (retention.ts) and soft-quota rounds (quota.ts),
 * with a fixed clock and a model standing in for the disk.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monthOf, thin, type SnapshotFacts } from '../src/server/retention/retention.js';
import { planQuota, type UsageModel } from '../src/server/retention/quota.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2027, 5, 15, 12, 0);

function dailies(days: number, serial = 'SHF00000001', accountId = 1): SnapshotFacts[] {
  return Array.from({ length: days }, (_, i) => {
    const t = NOW - (days - 1 - i) * DAY - 3_600_000;
    return {
      id: accountId * 10_000 + i,
      accountId,
      serial,
      source: 'datastore',
      name: `datastore-${new Date(t).toISOString().slice(0, 16).replace('T', '_')}`,
      createdAt: t,
      pinned: false,
    };
  });
}

describe('thinning', () => {
  test('400 days of dailies keep exactly the 90 recent ones plus the first of each older month', () => {
    const snaps = dailies(400);
    const v = thin(snaps, { keepDays: 90 }, NOW);
    const kept = v.filter((x) => x.keep);
    const recent = snaps.filter((s) => s.createdAt > NOW - 90 * DAY);
    assert.equal(recent.length, 90);
    const olderMonths = new Set(snaps.filter((s) => s.createdAt <= NOW - 90 * DAY).map((s) => monthOf(s.createdAt)));
    assert.equal(kept.length, 90 + olderMonths.size);
    assert.equal(v.filter((x) => x.reason === 'recent').length, 90 - 1, 'the newest is kept as latest');
    assert.equal(v.filter((x) => x.reason === 'latest').length, 1);
    const firstOf = new Map<string, number>();
    for (const s of snaps) if (!firstOf.has(monthOf(s.createdAt))) firstOf.set(monthOf(s.createdAt), s.id);
    for (const x of v.filter((y) => y.reason === 'monthly'))
      assert.equal(
        firstOf.get(monthOf(x.snapshot.createdAt)),
        x.snapshot.id,
        `${x.snapshot.name} is its month's first`,
      );
    assert.ok(
      v
        .filter((y) => y.reason === 'monthly')
        .slice(1)
        .every((x) => new Date(x.snapshot.createdAt).getUTCDate() === 1),
    );
    for (const x of v.filter((y) => !y.keep))
      assert.match(x.why, /older than 90 days and not the first of \d{4}-\d{2}/);
  });

  test("a source's latest and pinned snapshots are never removed; sources and laptops are thinned apart", () => {
    const a = dailies(200);
    a[5].pinned = true;
    const old = dailies(3, 'SHF00000002', 2).map((s) => ({ ...s, createdAt: s.createdAt - 300 * DAY }));
    const docs = dailies(200).map((s) => ({ ...s, id: s.id + 5000, source: 'documents' }));
    const v = thin([...a, ...old, ...docs], { keepDays: 30 }, NOW);
    const by = new Map(v.map((x) => [x.snapshot.id, x]));
    assert.equal(by.get(a[5].id)!.reason, 'pinned');
    assert.equal(by.get(old[2].id)!.reason, 'latest', 'a laptop that stopped backing up keeps its latest');
    assert.equal(by.get(old[1].id)!.keep, false);
    assert.equal(by.get(docs[199].id)!.reason, 'latest');
    assert.equal(
      v.filter((x) => x.keep && x.snapshot.source === 'documents').length,
      v.filter((x) => x.keep && x.snapshot.source === 'datastore' && x.snapshot.serial === 'SHF00000001').length - 1,
    );
  });

  test('custom keepDays', () => {
    const v = thin(dailies(60), { keepDays: 10 }, NOW);
    assert.equal(v.filter((x) => x.reason === 'recent' || x.reason === 'latest').length, 10);
  });
});

describe('soft quota', () => {
  // Each snapshot holds `unique` bytes only it references; pins hold `pinned`.
  function model(
    unique: Map<number, number>,
    owner: Map<number, number>,
    base: Map<number, number>,
    pinned = new Map<number, number>(),
  ): UsageModel {
    const dropped = (a: number, removed: ReadonlySet<number>) =>
      [...removed].filter((id) => owner.get(id) === a).reduce((s, id) => s + unique.get(id)!, 0);
    return {
      usage: (a, removed) => base.get(a)! - dropped(a, removed),
      pinnedBytes: (a) => pinned.get(a) ?? 0,
      freed: (removed) => ({ bytes: [...removed].reduce((s, id) => s + unique.get(id)!, 0), objects: removed.size }),
    };
  }

  test('one heavy account loses its oldest snapshots round by round; light accounts keep everything', () => {
    const unique = new Map<number, number>();
    const owner = new Map<number, number>();
    const base = new Map<number, number>();
    const accounts = [];
    for (let a = 1; a <= 20; a++) {
      const heavy = a === 1;
      const removable = Array.from({ length: 30 }, (_, i) => ({
        id: a * 100 + i,
        name: `datastore-${i}`,
        serial: `SN${a}`,
      }));
      for (const r of removable) {
        unique.set(r.id, heavy ? 40e6 : 1e5);
        owner.set(r.id, a);
      }
      base.set(a, heavy ? 30 * 40e6 + 50e6 : 30 * 1e5 + 1e6);
      accounts.push({ id: a, label: `SN${a}`, removable });
    }
    // 1.2 GB used by the heavy account, ~80 MB by the others; disk 2 GB; soft quota 70 % = 1.4 GB.
    const used = [...base.values()].reduce((s, b) => s + b, 0) + 200e6;
    const disk = { totalBytes: 2e9, usedBytes: used, totalInodes: 1e6, usedInodes: 1000 };
    const plan = planQuota(
      disk,
      { softQuotaPct: 70, maxRounds: 10, accountCapBytes: 0 },
      accounts,
      model(unique, owner, base),
    );
    assert.ok(plan.overQuota);
    assert.equal(plan.share, 1.4e9 / 20);
    assert.ok(plan.removals.length > 0);
    assert.ok(
      plan.removals.every((r) => r.accountId === 1),
      'only the heavy account loses snapshots',
    );
    assert.deepEqual(
      plan.removals.map((r) => r.name),
      plan.removals.map((_, i) => `datastore-${i}`),
      'oldest first, one per round',
    );
    assert.equal(plan.after.overQuota, false);
    assert.equal(plan.rounds, plan.removals.length);
    // Stops as soon as the disk is under the quota.
    const before = plan.removals.length - 1;
    assert.ok(used - before * 40e6 > 1.4e9);
  });

  test('at most maxRounds rounds; pins alone above the share are reported, never removed', () => {
    const accounts = [
      {
        id: 1,
        label: 'SN1',
        removable: [
          { id: 1, name: 'a', serial: 'SN1' },
          { id: 2, name: 'b', serial: 'SN1' },
        ],
      },
      { id: 2, label: 'SN2', removable: [] },
    ];
    const unique = new Map([
      [1, 1],
      [2, 1],
    ]);
    const owner = new Map([
      [1, 1],
      [2, 1],
    ]);
    const base = new Map([
      [1, 900],
      [2, 900],
    ]);
    const disk = { totalBytes: 1000, usedBytes: 999, totalInodes: 0, usedInodes: 0 };
    const plan = planQuota(
      disk,
      { softQuotaPct: 70, maxRounds: 10, accountCapBytes: 0 },
      accounts,
      model(unique, owner, base, new Map([[2, 800]])),
    );
    assert.equal(plan.removals.length, 2);
    assert.equal(plan.rounds, 2);
    assert.ok(
      plan.notes.some((n) => /SN2: pins alone hold/.test(n)),
      plan.notes.join('; '),
    );
    assert.ok(
      plan.notes.some((n) => /SN1: .*only latest or pinned/.test(n)),
      plan.notes.join('; '),
    );
    const many = [
      {
        id: 1,
        label: 'SN1',
        removable: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `s${i}`, serial: 'SN1' })),
      },
    ];
    const m2 = model(
      new Map(many[0].removable.map((r) => [r.id, 0])),
      new Map(many[0].removable.map((r) => [r.id, 1])),
      new Map([[1, 5000]]),
    );
    assert.equal(
      planQuota(disk, { softQuotaPct: 70, maxRounds: 10, accountCapBytes: 0 }, many, m2).removals.length,
      10,
    );
  });

  test('an absolute per-account cap applies even under the soft quota', () => {
    const accounts = [
      {
        id: 1,
        label: 'SN1',
        removable: [
          { id: 1, name: 'a', serial: 'SN1' },
          { id: 2, name: 'b', serial: 'SN1' },
        ],
      },
    ];
    const disk = { totalBytes: 1e9, usedBytes: 1e6, totalInodes: 0, usedInodes: 0 };
    const plan = planQuota(
      disk,
      { softQuotaPct: 70, maxRounds: 10, accountCapBytes: 600 },
      accounts,
      model(
        new Map([
          [1, 300],
          [2, 300],
        ]),
        new Map([
          [1, 1],
          [2, 1],
        ]),
        new Map([[1, 1000]]),
      ),
    );
    assert.equal(plan.overQuota, false);
    assert.deepEqual(
      plan.removals.map((r) => r.name),
      ['a', 'b'],
    );
    assert.match(plan.removals[0].why, /account cap/);
  });
});
