/**
 * Daily cleanup on a real store with a fixed clock: thinning 400 days of
 * dailies, the soft quota with one heavy and many light accounts, pinned and
 * starred entries outliving their snapshots, reindex keeping pins, and a
 * seeded random mix of backups, pins, deletions and cleanups after which
 * every kept snapshot and pin must still be whole.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/server/store/store.js';
import { runCleanup, DEFAULT_CLEANUP, type CleanupPolicy } from '../src/server/retention/cleanup.js';
import { attemptCleanup, latestReports, lastRunDay } from '../src/server/retention/cleanup-job.js';
import { monthOf } from '../src/server/retention/retention.js';
import { Pins } from '../src/server/retention/pins.js';
import { reindex } from '../src/server/catalog/reindex.js';
import { writeSnapshot } from '../src/server/store/snapshots.js';
import { recordSnapshot } from '../src/server/catalog/snapshot-index.js';
import type { SnapshotRow } from '../src/server/catalog/catalog.js';
import { generateJournal, mutateJournal } from '../src/journal/gen/generator.js';
import { rngFor } from '../src/journal/gen/prng.js';
import { cleanup, tmp } from './helpers/harness.js';
import { ageStore, assertRestorable, DAY, device, simBackup, storedBytes, storedIds } from './helpers/sim.js';

const dirs: string[] = [];
after(() => cleanup(...dirs));
const T0 = Date.UTC(2026, 0, 1, 10, 0);
const noQuota = () => ({ totalBytes: 1e12, usedBytes: 1e9, totalInodes: 1e9, usedInodes: 1e3 });
const POLICY: CleanupPolicy = { ...DEFAULT_CLEANUP, verifySamplePct: 100 };

function newStore(tag: string): Store {
  const root = tmp(tag);
  dirs.push(root);
  return new Store(root);
}

function journal(seed: string, entries = 12, pool?: string): string {
  const d = tmp('journal');
  dirs.push(d);
  generateJournal(join(d, 'datastore'), {
    seed,
    entries,
    ...(pool ? { sharedPool: { seed: pool, fraction: 0.4 } } : {}),
  });
  return join(d, 'datastore');
}

const snapshots = (store: Store) =>
  store.db.prepare('SELECT * FROM snapshots ORDER BY created_at').all() as SnapshotRow[];

function assertAllWhole(store: Store, what: string): void {
  for (const s of snapshots(store))
    assertRestorable(store, s.account_id, [s.root], [], `${what} ${s.serial}/${s.name}`);
  for (const p of new Pins(store).all())
    assertRestorable(
      store,
      p.accountId,
      p.trees,
      p.blobs.map((b) => b[0]),
      `${what} pin ${p.id}`,
    );
}

/** Nothing is stored that no snapshot or pin reaches. */
function assertNoGarbage(store: Store): void {
  const reach = new Set<string>();
  const owned = store.db.prepare('SELECT DISTINCT id FROM account_blobs').pluck().all() as string[];
  for (const id of owned) reach.add(id);
  const extra = [...storedIds(store)].filter((id) => !reach.has(id));
  assert.deepEqual(extra, [], 'no unreferenced object left');
}

describe('cleanup on a real store', () => {
  test('400 days of daily snapshots: exactly the 90 dailies plus the first of each older month remain', async () => {
    const store = newStore('thin');
    const dev = device(store, 'SHF00000001');
    const ds = journal('thin');
    const first = await simBackup(store, dev, ds, T0);
    for (let d = 1; d < 400; d++) {
      const at = T0 + d * DAY;
      const name = `datastore-${new Date(at).toISOString().slice(0, 16).replace('T', '_')}`;
      const info = { ...first, name, createdAt: at };
      await writeSnapshot(store.objects, info);
      await store.withTrees(undefined, (src) =>
        store.db.transaction(() =>
          recordSnapshot(store.db, src, info, { accountId: dev.account_id, deviceId: dev.id }),
        )(),
      );
    }
    const now = T0 + 399 * DAY + 3_600_000;
    const all = snapshots(store);
    const older = new Set(all.filter((s) => s.created_at <= now - 90 * DAY).map((s) => monthOf(s.created_at)));
    const dry = await runCleanup(store, POLICY, { dryRun: true, now, disk: noQuota });
    assert.equal(dry.snapshots.removed, 400 - 90 - older.size);
    assert.equal(snapshots(store).length, 400, 'dry run removes nothing');
    const r = await runCleanup(store, POLICY, { now, disk: noQuota, slackMs: 0 });
    const left = snapshots(store);
    assert.equal(left.length, 90 + older.size);
    assert.equal(r.removed.length, 400 - 90 - older.size);
    assert.ok(r.removed.every((x) => x.reason === 'thinned' && /not the first of/.test(x.why)));
    const folders = readdirSync(store.userDir(dev.serial)).filter((n) => /^datastore-\d/.test(n));
    assert.equal(folders.length, left.length, 'folders removed from disk');
    assert.equal(readlinkSync(join(store.userDir(dev.serial), 'datastore-latest')), left[left.length - 1].name);
    assert.equal(r.verify!.damaged.length, 0);
    assertAllWhole(store, 'thinned');
    // The catalog rebuilt from disk agrees.
    await reindex(store);
    assert.equal(snapshots(store).length, left.length);
  });

  test('soft quota: the heavy account loses its oldest snapshots, light accounts keep all, garbage is collected', async () => {
    const store = newStore('quota');
    const heavy = device(store, 'SHF0000HEAVY');
    const lights = Array.from({ length: 6 }, (_, i) => device(store, `SHF000LIGHT${i}`));
    const heavyDs = journal('heavy', 8, 'class');
    for (let d = 0; d < 12; d++) {
      rmSync(join(heavyDs, `video-${d - 1}.bin`), { force: true });
      writeFileSync(join(heavyDs, `video-${d}.bin`), Buffer.alloc(300_000, d + 1));
      await simBackup(store, heavy, heavyDs, T0 + d * DAY);
    }
    for (const [i, dev] of lights.entries()) {
      const ds = journal(`light${i}`, 8, 'class');
      for (let d = 0; d < 3; d++) {
        mutateJournal(ds, { seed: `l${i}/${d}`, fraction: 0.2 });
        await simBackup(store, dev, ds, T0 + d * DAY);
      }
    }
    ageStore(store);
    const stored = () => storedBytes(store);
    // A filesystem of 5 MB: everything stored (12 videos of 300 kB, Journals) is over 70 %.
    const disk = () => ({ totalBytes: 4e6, usedBytes: stored(), totalInodes: 0, usedInodes: 0 });
    const before = disk().usedBytes;
    assert.ok(before > 0.7 * 4e6, `store uses ${before}`);
    const r = await runCleanup(store, POLICY, { now: T0 + 12 * DAY, disk, slackMs: 0 });
    if (process.env.SHOW)
      console.log(JSON.stringify({ ...r, accounts: r.accounts, verify: null }, null, 1), disk().usedBytes);
    assert.ok(r.quota!.overQuota);
    assert.ok(r.removed.length > 0);
    assert.ok(
      r.removed.every((x) => x.serial === heavy.serial && x.reason === 'quota'),
      JSON.stringify(r.removed),
    );
    const names = r.removed.map((x) => x.name);
    const heavyLeft = snapshots(store).filter((s) => s.serial === heavy.serial);
    assert.ok(
      heavyLeft.every((s) => names.every((n) => n < s.name)),
      'oldest removed first',
    );
    for (const l of lights) assert.equal(snapshots(store).filter((s) => s.serial === l.serial).length, 3);
    assert.ok(r.bytesFreed >= 300_000 * r.removed.length, "the removed snapshots' videos were freed");
    assert.ok(disk().usedBytes <= 0.7 * 4e6 || r.quota!.rounds === 10, 'under quota after the rounds');
    assertAllWhole(store, 'quota');
    assertNoGarbage(store);
  });

  test('pinned and starred entries outlive every snapshot that held them; reindex keeps pins', async () => {
    const store = newStore('pins');
    const dev = device(store, 'SHF0000PINS1');
    const ds = journal('pins', 12);
    await simBackup(store, dev, ds, T0);
    const changed = mutateJournal(ds, { seed: 'm1', fraction: 0.3 }).changed;
    await simBackup(store, dev, ds, T0 + DAY);
    const pins = new Pins(store);
    const x = changed[0];
    const pin = await pins.pinEntry(dev.account_id, x, undefined);
    const starredRows = store.db
      .prepare('SELECT uid, version FROM entries WHERE keep = 1 AND last_seq IS NULL')
      .all() as Array<{ uid: string; version: string }>;
    assert.ok(starredRows.length >= 1);
    // The student deletes the pinned entry and the starred ones from the Journal.
    for (const uid of [x, ...starredRows.map((s) => s.uid)])
      rmSync(join(ds, uid.slice(0, 2), uid), { recursive: true, force: true });
    await simBackup(store, dev, ds, T0 + 2 * DAY);
    ageStore(store);
    const r = await runCleanup(store, POLICY, { now: T0 + 200 * DAY, disk: noQuota, slackMs: 0 });
    assert.deepEqual(
      r.removed.map((s) => s.name),
      ['datastore-2026-01-02_10:00'],
      'the middle snapshot goes',
    );
    assert.ok(r.pins.added >= starredRows.length, 'starred entries pinned automatically');
    const all = pins.all();
    for (const s of starredRows)
      assert.ok(
        all.some((p) => p.auto && p.uid === s.uid && p.version === s.version),
        `starred ${s.uid} pinned`,
      );
    assert.ok(all.some((p) => p.id === pin.id));
    assertAllWhole(store, 'after cleanup');
    assertNoGarbage(store);
    // Pins live on disk: a rebuilt catalog keeps them and a second cleanup keeps their data.
    store.db.exec('DELETE FROM pins');
    await reindex(store);
    assert.equal(new Pins(store).all().length, all.length);
    ageStore(store);
    await runCleanup(store, POLICY, { now: T0 + 201 * DAY, disk: noQuota, slackMs: 0 });
    assertAllWhole(store, 'after reindex and a second cleanup');
  });

  test('the daily job runs once a day, skips under high load unless forced, and keeps its report', async () => {
    const store = newStore('job');
    const dev = device(store, 'SHF00000JOB1');
    await simBackup(store, dev, journal('job', 4), T0);
    const opts = { now: T0 + DAY, disk: noQuota, loadLimit: 5 };
    assert.deepEqual(await attemptCleanup(store, POLICY, { ...opts, load: () => 9 }), {
      ran: false,
      reason: 'load 9.00 per core is above 5',
    });
    const first = await attemptCleanup(store, POLICY, { ...opts, load: () => 0 });
    assert.ok(first.ran);
    assert.equal(lastRunDay(store), '2026-01-02');
    const again = await attemptCleanup(store, POLICY, { ...opts, load: () => 0 });
    assert.equal(again.ran, false);
    assert.ok((await attemptCleanup(store, POLICY, { ...opts, load: () => 9, force: true })).ran);
    const reports = latestReports(store);
    assert.equal(reports.length, 2);
    assert.ok(existsSync(join(store.root, 'cleanup', 'reports', `${reports[0].id}.json`)));
  });

  test('randomized (seeded): backups, pins, deletions and cleanups; every kept snapshot and pin stays whole', async () => {
    const store = newStore('random');
    const rng = rngFor('cleanup-random-1');
    const kids = [0, 1, 2].map((i) => ({ dev: device(store, `SHF0000RND${i}`), ds: journal(`rnd${i}`, 10, 'class') }));
    const pins = new Pins(store);
    let now = T0;
    for (let step = 0; step < 40; step++) {
      const k = rng.pick(kids);
      const action = rng.pick(['backup', 'backup', 'backup', 'pin', 'unpin', 'delete', 'cleanup']);
      if (action === 'backup') {
        if (rng.chance(0.7)) mutateJournal(k.ds, { seed: `s${step}`, fraction: 0.2 });
        await simBackup(store, k.dev, k.ds, now);
      } else if (action === 'pin') {
        const rows = store.db
          .prepare('SELECT uid, version FROM entries WHERE account_id = ?')
          .all(k.dev.account_id) as Array<{ uid: string; version: string }>;
        const snaps = snapshots(store).filter((s) => s.account_id === k.dev.account_id);
        if (rng.chance(0.5) && rows.length) {
          const row = rng.pick(rows);
          await pins.pinEntry(k.dev.account_id, row.uid, row.version);
        } else if (snaps.length) pins.pinSnapshot(k.dev.account_id, k.dev.serial, rng.pick(snaps).name);
      } else if (action === 'unpin') {
        const mine = pins.list(k.dev.account_id);
        if (mine.length) pins.remove(k.dev.account_id, rng.pick(mine).id);
      } else if (action === 'delete') {
        const entries = readdirSync(k.ds)
          .filter((n) => n.length === 2)
          .flatMap((p) => readdirSync(join(k.ds, p)).map((u) => join(k.ds, p, u)));
        if (entries.length > 2) rmSync(rng.pick(entries), { recursive: true });
      } else {
        ageStore(store);
        await runCleanup(store, { ...POLICY, keepDays: 20 }, { now, disk: noQuota, slackMs: 0 });
        assertNoGarbage(store);
      }
      assertAllWhole(store, `step ${step} (${action})`);
      now += rng.int(1, 25) * DAY;
    }
    assert.ok(snapshots(store).length > 3);
  });
});
