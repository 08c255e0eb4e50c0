/**
 * Unit tests of the store's parts on a real Store in a temporary root: the
 * pool, resumable uploads (completion through the object store), the tree
 * stash, store-format.json (new, old without it, newer refused — also by
 * the `serve`, `reindex` and `cleanup` commands) and the iterative tree walker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Store } from '../src/server/store/store.js';
import { appendUpload, partPath, uploadOffset } from '../src/server/store/uploads.js';
import { TreeStash } from '../src/server/ingest/tree-stash.js';
import { FORMAT_FILE, STORE_FORMAT_VERSION } from '../src/server/store/store-format.js';
import { walkTrees } from '../src/server/store/tree-walk.js';
import { makeEntry, serializeTree, type Tree } from '../src/protocol/tree.js';
import { treeStats } from '../src/server/catalog/snapshot-index.js';
import { cleanup, serverCli, tmp } from './helpers/harness.js';
import { blobFile, putBlob } from './helpers/store-files.js';

const sha = (d: Buffer | string) => createHash('sha256').update(d).digest('hex');

test('pool: staged objects appear on publish; claim marks use; tiny blobs are served from memory; inline refs', async () => {
  const root = tmp('pool');
  const store = new Store(root);
  const { pool } = store;
  const treeText = serializeTree([]);
  const blob = Buffer.from('a blob of some bytes');
  const staged = await pool.stageMany([
    { id: sha(blob), kind: 'blob', data: blob },
    { id: sha(treeText), kind: 'tree', data: treeText },
  ]);
  assert.equal(await pool.blobSize(sha(blob)), -1);
  assert.equal(await pool.hasTree(sha(treeText)), false);
  await pool.flush();
  await pool.publish(staged);
  assert.equal(await pool.blobSize(sha(blob)), blob.length);
  assert.equal(await pool.readTree(sha(treeText)), treeText);
  utimesSync(blobFile(store, sha(blob)), 1000, 1000);
  assert.equal(await pool.claimBlob(sha(blob)), blob.length);
  assert.ok(statSync(blobFile(store, sha(blob))).mtimeMs > Date.now() - 60_000);
  assert.equal(await pool.claimTree(sha(treeText)), true);
  assert.equal(await pool.claimBlob(sha('absent')), -1);

  const r = pool.openBlob(sha(blob));
  const buf = Buffer.alloc(1 << 20); // a restore's reused slot
  assert.equal(r.read(buf, 100, 6, 2), 6);
  r.close();
  assert.equal(buf.toString('utf8', 100, 106), 'blob o');

  const tiny = Buffer.from('tiny');
  await putBlob(store, sha(tiny), tiny);
  pool.rememberTiny(sha(tiny), tiny);
  rmSync(blobFile(store, sha(tiny)), { force: true });
  assert.equal((await pool.readBlob(sha(tiny))).toString(), 'tiny', 'from memory');
  assert.equal((await pool.refBytes('inline:' + Buffer.from('inl').toString('base64'))).toString(), 'inl');
  assert.ok(Buffer.isBuffer(pool.refSource('inline:aGk=')));
  assert.deepEqual(pool.refSource(sha(blob)), { blob: sha(blob) });
  store.close();
  cleanup(root);
});

test('uploads: a resumable upload completes through the object store; wrong bytes are discarded', async () => {
  const root = tmp('upl');
  const store = new Store(root);
  const data = Buffer.alloc(300_000, 7);
  const id = sha(data);
  let r = await appendUpload(
    store,
    'SN1',
    id,
    0,
    data.length,
    Readable.from([data.subarray(0, 100_000)]),
    false,
    () => {},
  );
  assert.deepEqual(r, { offset: 100_000, complete: false });
  assert.deepEqual(await uploadOffset(store, 'SN1', id, false), { offset: 100_000, complete: false });
  await assert.rejects(
    appendUpload(store, 'SN1', id, 5, data.length, Readable.from([data.subarray(5)]), false, () => {}),
    /at offset 100000/,
  );
  r = await appendUpload(
    store,
    'SN1',
    id,
    100_000,
    data.length,
    Readable.from([data.subarray(100_000)]),
    false,
    () => {},
  );
  assert.deepEqual(r, { offset: data.length, complete: true });
  assert.equal(existsSync(partPath(store, 'SN1', id)), false, 'the part became the blob');
  assert.ok(readFileSync(blobFile(store, id)).equals(data));
  assert.deepEqual(await uploadOffset(store, 'SN1', id, true), { offset: data.length, complete: true });
  // Another account (not owning it) learns neither existence nor size: an ordinary upload from 0.
  assert.deepEqual(await uploadOffset(store, 'SN2', id, false), { offset: 0, complete: false });

  const bad = Buffer.alloc(1000, 1);
  await assert.rejects(
    appendUpload(store, 'SN1', sha('something else'), 0, bad.length, Readable.from([bad]), false, () => {}),
    /do not match/,
  );
  assert.equal(existsSync(partPath(store, 'SN1', sha('something else'))), false);
  assert.equal(await store.pool.blobSize(sha('something else')), -1);
  store.close();
  cleanup(root);
});

test('tree stash: checked trees wait unpublished; a wrong one is refused; drop and expiry remove their temp files', async () => {
  const root = tmp('stash');
  const store = new Store(root);
  const live = new Set(['L1', 'L2']);
  const stash = new TreeStash(store.pool, (l) => live.has(l));
  const t1 = serializeTree([['a', 'f', 0o644, 1, 1, sha('x')]]);
  const t2 = serializeTree([]);
  assert.equal(await stash.add('L1', { [sha(t1)]: t1 }), 1);
  assert.equal(await stash.add('L1', { [sha(t1)]: t1, [sha(t2)]: t2 }), 2);
  assert.equal(await store.pool.hasTree(sha(t1)), false, 'stashed, not published');
  const tmps = [...stash.get('L1').values()].map((t) => t.tmp);
  assert.ok(tmps.every((p) => existsSync(p)));
  await assert.rejects(stash.add('L1', { [sha('nope')]: t2 }), /does not match/);
  await assert.rejects(stash.add('L1', { [sha('{bad')]: '{bad' }));
  stash.drop('L1');
  assert.ok(tmps.every((p) => !existsSync(p)));
  assert.equal(stash.get('L1').size, 0);

  await stash.add('L2', { [sha(t2)]: t2 });
  const t2tmp = stash.get('L2').get(sha(t2))!.tmp;
  live.delete('L2');
  stash.sweep();
  assert.equal(existsSync(t2tmp), false, 'an expired lease loses its stash');
  assert.deepEqual(
    readdirSync(join(root, 'incoming')).filter((n) => n.endsWith('.tmp')),
    [],
  );
  store.close();
  cleanup(root);
});

test('store-format.json: a new store writes it; a store without it (version 1) or at version 1 is upgraded in place', () => {
  const root = tmp('fmt');
  new Store(root).close();
  const f = JSON.parse(readFileSync(join(root, FORMAT_FILE), 'utf8'));
  assert.equal(f.format, 'ds-backup-store');
  assert.equal(f.version, STORE_FORMAT_VERSION);
  assert.ok(Date.parse(f.createdAt) > 0);
  assert.deepEqual(f.pool, { hash: 'sha256', blobs: 'pool/ab/<id>', trees: 'trees/ab/<id>', depth: 1 });
  rmSync(join(root, FORMAT_FILE));
  new Store(root).close();
  const g = JSON.parse(readFileSync(join(root, FORMAT_FILE), 'utf8'));
  assert.equal(g.version, STORE_FORMAT_VERSION);
  assert.match(g.createdAt, /before store-format/);
  // A version 1 file (before chunked files): 1 → 2 changes nothing else.
  writeFileSync(join(root, FORMAT_FILE), JSON.stringify({ ...g, version: 1, writtenBy: 'ds-backup 0.0.9' }));
  new Store(root).close();
  const h = JSON.parse(readFileSync(join(root, FORMAT_FILE), 'utf8'));
  assert.equal(h.version, 2);
  assert.match(h.writtenBy, /^ds-backup /);
  assert.notEqual(h.writtenBy, 'ds-backup 0.0.9');
  cleanup(root);
});

test('store-format.json: a newer version is refused (in process, and by serve, reindex and cleanup)', async () => {
  const root = tmp('fmt');
  new Store(root).close();
  const path = join(root, FORMAT_FILE);
  const f = JSON.parse(readFileSync(path, 'utf8'));
  writeFileSync(path, JSON.stringify({ ...f, version: STORE_FORMAT_VERSION + 1, writtenBy: 'ds-backup 9.0.0' }));
  assert.throws(
    () => new Store(root),
    new RegExp(
      `format version ${STORE_FORMAT_VERSION + 1} \\(written by ds-backup 9\\.0\\.0\\).*run ds-backup 9\\.0\\.0 or newer`,
    ),
  );
  for (const args of [
    ['serve', '--root', root, '--port', '0', '--host', '127.0.0.1'],
    ['reindex', '--root', root],
    ['cleanup', '--root', root, '--force'],
  ]) {
    const r = await serverCli(args);
    assert.equal(r.code, 1, `${args[0]} exits 1`);
    assert.match(
      r.stderr,
      new RegExp(`format version ${STORE_FORMAT_VERSION + 1} \\(written by ds-backup 9`),
      `${args[0]}: ${r.stderr}`,
    );
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).version, STORE_FORMAT_VERSION + 1, 'left as it was');
  cleanup(root);
});

test('walkTrees: each tree once, iteratively (a chain 100,000 deep does not overflow the stack)', () => {
  const trees = new Map<string, Tree>();
  const depth = 100_000;
  for (let i = 0; i < depth; i++)
    trees.set(`t${i}`, { v: 1, e: i + 1 < depth ? [['d', 'd', 0o755, 0, 0, `t${i + 1}`]] : [] } as Tree);
  // a diamond: two parents share a child
  trees.set('top', {
    v: 1,
    e: [
      ['a', 'd', 0o755, 0, 0, 't0'],
      ['b', 'd', 0o755, 0, 0, 't0'],
    ],
  } as Tree);
  const opened: string[] = [];
  walkTrees(['top'], (id) => {
    opened.push(id);
    return trees.get(id) ?? null;
  });
  assert.equal(opened.length, depth + 1);
  assert.equal(new Set(opened).size, opened.length, 'no tree opened twice');
  const pruned: string[] = [];
  walkTrees(['t0'], (id) => (pruned.push(id), id === 't2' ? null : trees.get(id)!));
  assert.deepEqual(pruned, ['t0', 't1', 't2'], 'null stops the descent');
});

test('treeStats: a 50,000-level tree is counted without recursion, and a repeated subtree once', () => {
  const root = tmp('deep-stats');
  const store = new Store(root);
  const trees = new Map<string, Tree>();
  const put = (entries: Tree['e']) => {
    const text = serializeTree(entries);
    const id = sha(text);
    trees.set(id, { v: 1, e: entries });
    return id;
  };
  const blob = sha('x');
  let id = put([makeEntry('leaf', 'f', 0o644, 0, 3, blob)]);
  const LEVELS = 50_000;
  for (let i = 0; i < LEVELS; i++)
    id = put([makeEntry('d', 'd', 0o755, 0, 0, id), makeEntry('f', 'f', 0o644, 0, 2, blob)]);
  const top = put([makeEntry('a', 'd', 0o755, 0, 0, id), makeEntry('b', 'd', 0o755, 0, 0, id)]);
  const src = { tree: (t: string) => trees.get(t)!, blob: () => Buffer.alloc(0) };
  const s = treeStats(store.db, src, top);
  assert.deepEqual(s, { files: 2 * (LEVELS + 1), bytes: 2 * (LEVELS * 2 + 3) });
  assert.deepEqual(treeStats(store.db, { tree: () => assert.fail('cached'), blob: src.blob }, top), s);
  store.close();
  cleanup(root);
});
