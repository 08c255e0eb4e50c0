/**
 * sim — fast store simulation for cleanup tests: a real Store, devices
 * registered directly, and "backups" that scan a folder with the agent's own
 * scanner, put its blobs in the pool and commit through the server's ingest
 * at a chosen (fixed-clock) time. Plus checks that a snapshot or pin is
 * still fully restorable: every tree and blob of its closure present,
 * hashing to its name, and authorized for its account.
 */
import { blobKey, treeKey } from '../../src/server/store/object-store.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, utimesSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { allTrees, DATASTORE_EXCLUDES, scanBlobs, scanSource } from '../../src/snapshot/scan.js';
import { readTrustedTree } from '../../src/protocol/tree.js';
import type { DeviceRow } from '../../src/server/catalog/catalog.js';
import { commit } from '../../src/server/ingest/ingest.js';
import { grantOwnership } from '../../src/server/catalog/ownership.js';
import { POOL_DEPTH } from '../../src/server/store/local-store.js';
import type { StagedObject } from '../../src/server/store/object-store.js';
import type { SnapshotInfo } from '../../src/server/store/snapshots.js';
import type { Store } from '../../src/server/store/store.js';
import { tmp } from './harness.js';

export const DAY = 86_400_000;

export function device(store: Store, serial: string): DeviceRow {
  return store.registry.register({ serial, nickname: `kid ${serial}` }).device;
}

const cacheDir = tmp('simcache');

export async function simBackup(
  store: Store,
  dev: DeviceRow,
  dir: string,
  at: number,
  source = 'datastore',
): Promise<SnapshotInfo> {
  const scan = scanSource(
    source,
    dir,
    join(cacheDir, `${dev.serial}-${source}.json`),
    'sim',
    source === 'datastore' ? DATASTORE_EXCLUDES : new Set(),
  );
  const staged: StagedObject[] = [];
  for (const b of scanBlobs(scan))
    if ((await store.pool.blobSize(b.id)) < 0) staged.push(await store.pool.stageBlob(b.id, [readFileSync(b.path)]));
  await store.pool.flush();
  await store.pool.publish(staged);
  grantOwnership(
    store.db,
    dev.account_id,
    [...scanBlobs(scan)].map((b) => b.id),
  ); // as an upload (or a proof) would
  const [info] = await commit(store, dev, [{ source, root: scan.root, trees: allTrees(scan) }], null, new Date(at));
  return info;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Asserts that everything under `trees` / `blobs` is present, intact and readable by the account. */
export function assertRestorable(
  store: Store,
  accountId: number,
  trees: string[],
  blobs: string[] = [],
  what = '',
): void {
  const owned = store.db.prepare('SELECT 1 FROM account_blobs WHERE account_id = ? AND id = ?');
  const seen = new Set<string>();
  const check = (id: string) => assert.ok(owned.get(accountId, id), `${what}: ${id} authorized for its account`);
  const blob = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    assert.equal(sha(store.pool.local!.read(blobKey(id))), id, `${what}: blob ${id} intact`);
    check(id);
  };
  const stack = [...trees];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const text = store.pool.local!.read(treeKey(id)).toString();
    assert.equal(sha(text), id, `${what}: tree ${id} intact`);
    check(id);
    for (const e of readTrustedTree(text).e) {
      if (e[1] === 'd') stack.push(e[5]);
      else if (e[1] === 'f') blob(e[5]);
    }
  }
  for (const b of blobs) blob(b);
}

/** Every object in the pool and tree store (ids). */
export function storedIds(store: Store): Set<string> {
  const out = new Set<string>();
  const walk = (d: string, depth: number) => {
    for (const n of readdirSync(d)) {
      if (depth) walk(join(d, n), depth - 1);
      else out.add(n);
    }
  };
  walk(join(store.root, 'trees'), 1);
  walk(join(store.root, 'pool'), POOL_DEPTH);
  return out;
}

/** Makes every stored object look `ms` older (time passing for the GC's grace rule). */
export function ageStore(store: Store, ms = 3_600_000): void {
  const walk = (d: string, depth: number) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (depth) walk(p, depth - 1);
      else {
        const t = (statSync(p).mtimeMs - ms) / 1000;
        utimesSync(p, t, t);
      }
    }
  };
  walk(join(store.root, 'trees'), 1);
  walk(join(store.root, 'pool'), POOL_DEPTH);
}

/** Bytes of every stored object. */
export function storedBytes(store: Store): number {
  let n = 0;
  const walk = (d: string, depth: number) => {
    for (const x of readdirSync(d)) {
      if (depth) walk(join(d, x), depth - 1);
      else n += statSync(join(d, x)).size;
    }
  };
  walk(join(store.root, 'trees'), 1);
  walk(join(store.root, 'pool'), POOL_DEPTH);
  return n;
}
