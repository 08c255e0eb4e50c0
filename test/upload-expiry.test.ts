/**
 * Abandoned resumable uploads expire: the pure policy (a reason per part),
 * and the daily cleanup on a real store — parts untouched for 7 days go
 * (count and bytes in the report; a dry run only reports), fresh parts and
 * parts of a laptop holding a live lease (in process, or a running `serve`
 * in another process through run/leases.json) stay. A damaged leases.json
 * stops the cleanup instead of reading as "no server".
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/server/store/store.js';
import { runCleanup, DEFAULT_CLEANUP } from '../src/server/retention/cleanup.js';
import { expireParts } from '../src/server/retention/parts.js';
import { leaseFilePath } from '../src/server/retention/gc.js';
import { cleanup, tmp } from './helpers/harness.js';
import { DAY } from './helpers/sim.js';

const dirs: string[] = [];
after(() => cleanup(...dirs));
const noQuota = () => ({ totalBytes: 1e12, usedBytes: 1e9, totalInodes: 1e9, usedInodes: 1e3 });
const ID = (c: string) => c.repeat(64);

test('expireParts: a reason for every verdict', () => {
  const now = 100 * DAY;
  const p = (serial: string, ageDays: number) => ({
    name: `${ID('a')}.${serial}.part`,
    serial,
    bytes: 10,
    mtimeMs: now - ageDays * DAY,
  });
  const v = expireParts([p('OLD', 8), p('NEW', 2), p('LEASED', 30)], 7, now, new Set(['LEASED']));
  assert.deepEqual(
    v.map((x) => x.expire),
    [true, false, false],
  );
  assert.match(v[0].why, /untouched for 8\.0 days/);
  assert.match(v[1].why, /touched 2\.0 days ago/);
  assert.match(v[2].why, /LEASED holds a live lease/);
  assert.ok(
    expireParts([p('OLD', 30)], 7, now, 'all').every((x) => !x.expire),
    'unknown leases hold every part',
  );
  assert.ok(
    expireParts([p('OLD', 30)], 0, now, new Set()).every((x) => !x.expire),
    '0 turns expiry off',
  );
});

function storeWithParts() {
  const root = tmp('parts');
  dirs.push(root);
  const store = new Store(root);
  const make = (id: string, serial: string, bytes: number, ageDays: number) => {
    const path = join(store.objects.scratchDir, `${ID(id)}.${serial}.part`);
    writeFileSync(path, Buffer.alloc(bytes, 1));
    const t = (Date.now() - ageDays * DAY) / 1000;
    utimesSync(path, t, t);
    return path;
  };
  return {
    store,
    old: make('a', 'SHF00000OLD1', 3000, 10),
    fresh: make('b', 'SHF00000NEW1', 500, 1),
    leased: make('c', 'SHF00000BUSY', 700, 30),
  };
}

test('the cleanup removes parts untouched for 7 days that no live lease holds; a dry run only reports', async () => {
  const { store, old, fresh, leased } = storeWithParts();
  const opts = { disk: noQuota, leaseSerials: () => ['SHF00000BUSY'] };
  const dry = await runCleanup(store, DEFAULT_CLEANUP, { ...opts, dryRun: true });
  assert.deepEqual([dry.uploads.expired, dry.uploads.bytes, dry.uploads.kept], [1, 3000, 2]);
  assert.ok(existsSync(old), 'a dry run deletes nothing');
  const r = await runCleanup(store, DEFAULT_CLEANUP, opts);
  assert.deepEqual([r.uploads.expired, r.uploads.bytes, r.uploads.kept], [1, 3000, 2]);
  assert.match(r.uploads.removed[0].why, /untouched for 10\.0 days/);
  assert.ok(!existsSync(old));
  assert.ok(existsSync(fresh) && existsSync(leased));
  // Without the lease the 30-day-old part goes too.
  const r2 = await runCleanup(store, DEFAULT_CLEANUP, { disk: noQuota });
  assert.deepEqual([r2.uploads.expired, r2.uploads.bytes], [1, 700]);
  assert.ok(existsSync(fresh) && !existsSync(leased));
  store.close();
});

test('a serve in another process: its leases.json serials hold their parts; a damaged file stops the cleanup', async () => {
  const { store, old, leased } = storeWithParts();
  const file = leaseFilePath(store.root);
  mkdirSync(join(store.root, 'run'), { recursive: true });
  // pid 1 is alive and not us: a running server.
  writeFileSync(file, JSON.stringify({ pid: 1, updatedAt: Date.now(), grants: [], serials: ['SHF00000BUSY'] }));
  const r = await runCleanup(store, DEFAULT_CLEANUP, { disk: noQuota });
  assert.deepEqual([r.uploads.expired, r.uploads.kept], [1, 2]);
  assert.ok(!existsSync(old) && existsSync(leased));
  // A server whose file lists no serials (older version): every part stays.
  writeFileSync(file, JSON.stringify({ pid: 1, updatedAt: Date.now(), grants: [] }));
  assert.equal((await runCleanup(store, DEFAULT_CLEANUP, { disk: noQuota })).uploads.expired, 0);
  assert.ok(existsSync(leased));
  writeFileSync(file, '{"pid": 1, "gra');
  await assert.rejects(runCleanup(store, DEFAULT_CLEANUP, { disk: noQuota }), /leases\.json cannot be read/);
  assert.ok(existsSync(leased));
  store.close();
});
