/**
 * Unit tests of references (retention/refs.ts) and garbage collection
 * (retention/gc.ts) on small real stores in a temp dir: two snapshots of one
 * account share a file; forgetting the first must delete exactly what only
 * it held — and nothing when the objects are fresh, claimed, under a live
 * lease, outside the candidates, or in a dry run. The end-to-end runs are
 * in cleanup.test.ts and cleanup-gc.test.ts.
 */
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Store } from '../src/server/store/store.js';
import { closure, IdSet, recomputeAccount } from '../src/server/retention/refs.js';
import { collectGarbage } from '../src/server/retention/gc.js';
import { entryName, entryRef, readTrustedTree } from '../src/protocol/tree.js';
import { cleanup, tmp } from './helpers/harness.js';
import { ageStore, DAY, device, simBackup, storedIds } from './helpers/sim.js';
import { blobFile, treeFile } from './helpers/store-files.js';

const dirs: string[] = [];
after(() => cleanup(...dirs));
const T0 = Date.UTC(2026, 0, 1, 10, 0);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Above INLINE_MAX, so every file is a pool blob. */
const content = (tag: string) => Buffer.alloc(4096, tag);

interface World {
  store: Store;
  accountId: number;
  a: { id: number; root: string };
  b: { id: number; root: string };
  /** Blob ids only the first snapshot holds, only the second, and both. */
  onlyA: string[];
  onlyB: string[];
  shared: string[];
}

async function world(tag: string): Promise<World> {
  const root = tmp(`gc-${tag}`);
  const src = tmp('gc-src');
  dirs.push(root, src);
  const store = new Store(root);
  const dev = device(store, 'SHF000000GC1');
  const write = (rel: string, b: Buffer) => {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    writeFileSync(join(src, rel), b);
  };
  write('shared', content('s'));
  write('a1', content('a'));
  write('sub/a2', content('A'));
  const a = await simBackup(store, dev, src, T0, 'documents');
  rmSync(join(src, 'a1'));
  rmSync(join(src, 'sub'), { recursive: true });
  write('b1', content('b'));
  const b = await simBackup(store, dev, src, T0 + DAY, 'documents');
  const idOf = (name: string) =>
    store.db.prepare('SELECT id FROM snapshots WHERE name = ?').pluck().get(name) as number;
  return {
    store,
    accountId: dev.account_id,
    a: { id: idOf(a.name), root: a.root },
    b: { id: idOf(b.name), root: b.root },
    onlyA: [sha(content('a')), sha(content('A'))],
    onlyB: [sha(content('b'))],
    shared: [sha(content('s'))],
  };
}

/** Forgets snapshot A in the references: what is still marked, and what A alone held. */
async function forgetA(w: World) {
  const r = await recomputeAccount(w.store, w.accountId, [], false, new Set([w.a.id]));
  const marked = new IdSet();
  for (const id of r.closure.sizes.keys()) marked.add(id);
  return { marked, dropped: r.dropped };
}

describe('refs', () => {
  test('closure: every tree and blob once, with sizes; a missing tree throws unless keepGoing', async () => {
    const w = await world('closure');
    const c = await closure(w.store, [w.a.root, w.b.root]);
    for (const id of [...w.onlyA, ...w.onlyB, ...w.shared]) assert.equal(c.sizes.get(id), 4096, id);
    const sub = readTrustedTree(await w.store.pool.readTree(w.a.root)).e.find((e) => entryName(e) === 'sub')!;
    const subId = entryRef(sub);
    assert.ok(c.sizes.has(subId), 'subtree reached');
    assert.equal(c.trees, 3, 'two roots and one subtree');
    assert.equal(c.sizes.size, 3 + 4, 'shared blob counted once');
    // A missing subtree.
    renameSync(treeFile(w.store, subId), join(w.store.root, 'moved'));
    await assert.rejects(() => closure(w.store, [w.a.root]), /ENOENT/);
    const partial = await closure(w.store, [w.a.root], [], true);
    assert.ok(partial.sizes.has(w.a.root) && partial.sizes.has(w.onlyA[0]) && partial.sizes.has(subId));
    assert.ok(!partial.sizes.has(w.onlyA[1]), 'what only the missing tree names is not reached');
    w.store.close();
  });

  test('recomputeAccount: account_blobs become exactly the closure; without A, A-only ids are dropped', async () => {
    const w = await world('recount');
    const owned = () =>
      new Set(
        w.store.db.prepare('SELECT id FROM account_blobs WHERE account_id = ?').pluck().all(w.accountId) as string[],
      );
    const full = await recomputeAccount(w.store, w.accountId, []);
    assert.deepEqual(owned(), new Set(full.closure.sizes.keys()));
    const dry = await recomputeAccount(w.store, w.accountId, [], true, new Set([w.a.id]));
    assert.equal(owned().size, full.closure.sizes.size, 'a dry run writes nothing');
    const r = await recomputeAccount(w.store, w.accountId, [], false, new Set([w.a.id]));
    assert.deepEqual(new Set(r.dropped), new Set(dry.dropped));
    for (const id of w.onlyA) assert.ok(r.dropped.includes(id), `${id} dropped`);
    for (const id of [...w.shared, ...w.onlyB]) assert.ok(owned().has(id), `${id} still owned`);
    assert.equal(r.dropped.length, 2 + 2, 'two blobs, the old root and its subtree');
    assert.equal(
      r.bytes,
      [...r.closure.sizes.values()].reduce((x, y) => x + y, 0),
    );
    w.store.close();
  });

  test('IdSet: what was added is there, past its first growth', () => {
    const s = new IdSet();
    const ids = Array.from({ length: 40_000 }, (_, i) => sha(Buffer.from(String(i))));
    for (const id of ids) s.add(id);
    for (const id of ids) s.add(id);
    assert.equal(s.size, ids.length);
    assert.ok(ids.every((id) => s.has(id)));
    assert.ok(!s.has(sha(Buffer.from('not added'))));
  });
});

describe('gc', () => {
  let w: World;
  beforeEach(async () => {
    w = await world('sweep');
  });

  const present = () => storedIds(w.store);

  test('a full sweep deletes exactly what only the forgotten snapshot held (aged objects)', async () => {
    const { marked, dropped } = await forgetA(w);
    ageStore(w.store);
    const before = present();
    const r = await collectGarbage(w.store, marked, { slackMs: 0 });
    const gone = [...before].filter((id) => !present().has(id));
    assert.deepEqual(new Set(gone), new Set(dropped));
    assert.deepEqual([r.trees, r.blobs, r.bytes >= 2 * 4096, r.full], [2, 2, true, true]);
    for (const id of [...w.shared, ...w.onlyB, w.b.root]) assert.ok(present().has(id), `${id} kept`);
    w.store.close();
  });

  test('objects touched after the horizon stay: fresh, claimed (with their closure), or under an older lease', async () => {
    const { marked } = await forgetA(w);
    // Just written, within the default slack (2 s) of coarse timestamps… or a minute, under a lease that old.
    let r = await collectGarbage(w.store, marked, { leaseGrants: [Date.now() - 60_000] });
    assert.equal(r.trees + r.blobs, 0, 'objects written after the oldest lease began are not deleted');
    ageStore(w.store);
    // A live lease granted before the objects were written (two hours ago, they look one hour old).
    r = await collectGarbage(w.store, marked, { slackMs: 0, leaseGrants: [Date.now() - 2 * 3_600_000] });
    assert.equal(r.trees + r.blobs, 0, 'a lease older than the objects keeps them');
    // A client was told A's root exists: the root and its whole closure stay.
    assert.ok(await w.store.pool.claimTree(w.a.root));
    r = await collectGarbage(w.store, marked, { slackMs: 0 });
    assert.equal(r.trees + r.blobs, 0);
    for (const id of w.onlyA) assert.ok(present().has(id), `${id} kept through the claimed root`);
    w.store.close();
  });

  test('a dry run counts the same and deletes nothing; candidates limit what is considered', async () => {
    const { marked, dropped } = await forgetA(w);
    ageStore(w.store);
    const before = present();
    const dry = await collectGarbage(w.store, marked, { slackMs: 0, dryRun: true });
    assert.deepEqual(present(), before);
    assert.deepEqual([dry.trees, dry.blobs], [2, 2]);
    const onlyBlob = await collectGarbage(w.store, marked, { slackMs: 0, candidates: [w.onlyA[0]] });
    assert.deepEqual([onlyBlob.trees, onlyBlob.blobs, onlyBlob.full], [0, 1, false]);
    assert.ok(!present().has(w.onlyA[0]) && present().has(w.onlyA[1]), 'only the candidate went');
    const rest = await collectGarbage(w.store, marked, { slackMs: 0, candidates: dropped });
    assert.deepEqual([rest.trees, rest.blobs], [2, 1]);
    w.store.close();
  });

  test('the rename-and-recheck path deletes the same; a crash leftover in gc-trash/ is put back', async () => {
    const { marked } = await forgetA(w);
    ageStore(w.store);
    // A crashed run left B's blob in gc-trash/: it is restored, then kept (B references it).
    const trash = join(w.store.root, 'gc-trash');
    mkdirSync(trash, { recursive: true });
    renameSync(blobFile(w.store, w.onlyB[0]), join(trash, `b-${w.onlyB[0]}`));
    const r = await collectGarbage(w.store, marked, { slackMs: 0, forceTrash: true });
    assert.equal(r.restoredFromTrash, 1);
    assert.deepEqual([r.trees, r.blobs], [2, 2]);
    assert.ok(present().has(w.onlyB[0]));
    w.store.close();
  });
});
