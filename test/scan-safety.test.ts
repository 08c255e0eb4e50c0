/**
 * The scanner never reads through a link or from a device (the server runs it
 * as root over folders old laptops write), and a commit publishes subtrees
 * before the trees that name them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allTrees, hashFile, scanBlobs, scanSource } from '../src/snapshot/scan.js';
import { readTrustedTree } from '../src/protocol/tree.js';
import { commit } from '../src/server/ingest/ingest.js';
import { grantOwnership } from '../src/server/catalog/ownership.js';
import { Store } from '../src/server/store/store.js';
import { cleanup, tmp } from './helpers/harness.js';
import { putBlob } from './helpers/store-files.js';
import { idOfKey } from '../src/server/store/object-store.js';

test('hashing refuses devices and links instead of following them', () => {
  const d = tmp('scan');
  writeFileSync(join(d, 'real'), 'content');
  symlinkSync(join(d, 'real'), join(d, 'link'));
  assert.throws(() => hashFile('/dev/zero'), /regular file/);
  assert.throws(() => hashFile(join(d, 'link')));
  assert.equal(hashFile(join(d, 'real')).size, 7);
  cleanup(d);
});

test('a commit publishes every subtree before the tree that names it', async () => {
  const root = tmp('order');
  const src = tmp('src');
  mkdirSync(join(src, 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(src, 'a', 'b', 'c', 'f'), 'x'.repeat(100));
  writeFileSync(join(src, 'a', 'g'), 'tiny');
  const store = new Store(root);
  const dev = store.registry.register({ serial: 'SHF0RDER01', nickname: '' }).device;
  const scan = scanSource('documents', src, join(root, 'cache.json'), 'test');
  const [blob] = [...scanBlobs(scan)];
  const blobId = blob.id;
  await putBlob(store, blobId, Buffer.from('x'.repeat(100)));
  grantOwnership(store.db, dev.account_id, [blobId]);
  assert.equal(blob.size, 100);
  const trees = allTrees(scan);
  const order: string[] = [];
  const publish = store.pool.publish.bind(store.pool);
  store.pool.publish = (staged) => {
    for (const s of staged) if (s.key.startsWith('trees/')) order.push(idOfKey(s.key)!);
    return publish(staged);
  };
  await commit(store, dev, [{ source: 'documents', root: scan.root, trees }], null);
  assert.equal(order.length, 4);
  for (const [i, id] of order.entries()) {
    for (const e of readTrustedTree(trees[id]).e)
      if (e[1] === 'd') assert.ok(order.indexOf(e[5]) < i, 'child published first');
  }
  store.close();
  cleanup(root, src);
});
