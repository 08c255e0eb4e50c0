/**
 * The local object store (src/server/store/local-store.ts) against the
 * ObjectStore contract: put-if-absent, reads with ranges, stat, list by
 * prefix, delete, staged batches, putFile, the GC's sweep and its recovery.
 * Real files in a temporary root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { LocalObjectStore } from '../src/server/store/local-store.js';
import {
  blobKey,
  idOfKey,
  snapshotFolderKey,
  snapshotKey,
  treeKey,
  userKey,
} from '../src/server/store/object-store.js';
import { cleanup, tmp } from './helpers/harness.js';

const ID = 'ab'.repeat(32);
const ID2 = 'cd'.repeat(32);

async function listed(s: LocalObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of s.list(prefix)) out.push(o.key);
  return out.sort();
}

test('put-if-absent writes once; a new folder appears with its object; get reads ranges; stat and list see it', async () => {
  const root = tmp('objs');
  const s = new LocalObjectStore(root);
  assert.equal(await s.putIfAbsent(blobKey(ID), 'hello world'), true);
  assert.equal(await s.putIfAbsent(blobKey(ID), 'other bytes'), false, 'a present key is kept');
  assert.equal(readFileSync(join(root, 'pool', 'ab', ID), 'utf8'), 'hello world');
  assert.equal(statSync(join(root, 'pool', 'ab', ID)).mode & 0o777, 0o444, 'pool objects are read-only');
  assert.equal(await text(s.get(blobKey(ID))), 'hello world');
  assert.equal(await text(s.get(blobKey(ID), { start: 6 })), 'world');
  assert.equal(await text(s.get(blobKey(ID), { start: 0, end: 5 })), 'hello');
  assert.equal((await s.stat(blobKey(ID)))?.size, 11);
  assert.equal(await s.stat(blobKey(ID2)), null);

  const rec = snapshotKey('SHC00000001', 'datastore-2026-01-01_10:00');
  assert.equal(await s.putIfAbsent(rec, [Buffer.from('{"a":'), Buffer.from('1}')]), true);
  assert.equal(readFileSync(join(root, rec), 'utf8'), '{"a":1}');
  assert.deepEqual(
    readdirSync(join(root, 'users', 'SHC00000001')).filter((n) => n.startsWith('.')),
    [],
    'no temp folder left',
  );
  assert.equal(await s.putIfAbsent(rec, '{}'), false);
  writeFileSync(join(root, 'users', 'SHC00000001', '.tmp-x'), 'hidden');
  assert.deepEqual(await listed(s, 'users/SHC00000001/'), [rec]);
  assert.deepEqual(await listed(s, 'users/SHC00000001/datastore-2026'), [rec]);
  assert.deepEqual(await listed(s, 'users/SHC00000001/documents-'), []);
  assert.deepEqual(await listed(s, 'pool/'), [blobKey(ID)]);
  assert.equal(idOfKey(blobKey(ID)), ID);
  assert.equal(idOfKey(rec), null);

  assert.equal(await s.delete(rec), true);
  assert.equal(
    existsSync(join(root, 'users', 'SHC00000001', 'datastore-2026-01-01_10:00')),
    false,
    'empty folder gone',
  );
  assert.equal(await s.delete(rec), false);
  await assert.rejects(s.putIfAbsent('pool/../../etc/x', 'no'), /bad object key/);
  cleanup(root);
});

test('staged objects stay invisible until published; discard removes them; putFile moves a temp file in', async () => {
  const root = tmp('objs');
  const s = new LocalObjectStore(root);
  const a = await s.stage(treeKey(ID), [Buffer.from('{"v":1,'), Buffer.from('"e":[]}')]);
  assert.equal(await s.stat(treeKey(ID)), null, 'not visible before publish');
  assert.deepEqual(await listed(s, 'trees/'), []);
  await s.flush();
  await s.publish([a]);
  assert.equal(readFileSync(join(root, 'trees', 'ab', ID), 'utf8'), '{"v":1,"e":[]}');
  const b = await s.stage(blobKey(ID2), [Buffer.from('x')]);
  s.discard([b]);
  assert.equal(existsSync(b.tmp), false);
  s.discard([b]); // twice: already gone is fine

  const part = s.scratchPath(`${ID2}.SN.part`);
  writeFileSync(part, 'resumed bytes');
  await s.putFile(blobKey(ID2), part);
  assert.equal(existsSync(part), false);
  assert.equal(readFileSync(join(root, 'pool', 'cd', ID2), 'utf8'), 'resumed bytes');

  writeFileSync(s.scratchPath('left.tmp'), '');
  writeFileSync(s.scratchPath('keep.part'), '');
  s.cleanScratch();
  assert.deepEqual(readdirSync(join(root, 'incoming')), ['keep.part'], 'crash temp files go, partial uploads stay');
  cleanup(root);
});

test('the sync fast path: touch marks use, open reads into a caller buffer, setAlias keeps a link', async () => {
  const root = tmp('objs');
  const s = new LocalObjectStore(root);
  await s.putIfAbsent(blobKey(ID), '0123456789');
  const file = join(root, 'pool', 'ab', ID);
  utimesSync(file, 1000, 1000);
  assert.equal(s.sync.touch(blobKey(ID)), 10);
  assert.ok(statSync(file).mtimeMs > Date.now() - 60_000, 'touched now');
  assert.equal(s.sync.touch(blobKey(ID2)), -1);
  const r = s.sync.open(blobKey(ID));
  const buf = Buffer.alloc(4);
  assert.equal(r.read(buf, 0, 4, 3), 4);
  r.close();
  assert.equal(buf.toString(), '3456');
  await s.putIfAbsent(snapshotKey('SN1', 'datastore-2026-01-01_10:00'), '{}');
  s.sync.setAlias('users/SN1', 'datastore-latest', 'datastore-2026-01-01_10:00');
  assert.ok(lstatSync(join(root, 'users', 'SN1', 'datastore-latest')).isSymbolicLink());
  assert.deepEqual(
    await listed(s, 'users/SN1/'),
    [snapshotKey('SN1', 'datastore-2026-01-01_10:00')],
    'links not listed',
  );
  cleanup(root);
});

test('sweep deletes only objects untouched since the horizon; a guarded sweep left half-done is recovered', async () => {
  const root = tmp('objs');
  const s = new LocalObjectStore(root);
  await s.putIfAbsent(blobKey(ID), 'old');
  await s.putIfAbsent(treeKey(ID2), 'new');
  utimesSync(join(root, 'pool', 'ab', ID), 1000, 1000);
  const horizon = Date.now() - 60_000;
  assert.equal(await s.sweep(treeKey(ID2), horizon, { dryRun: false, guarded: true }), -1, 'touched lately: kept');
  assert.equal(await s.sweep(blobKey(ID), horizon, { dryRun: true, guarded: false }), 3, 'dry run: size only');
  assert.ok(existsSync(join(root, 'pool', 'ab', ID)));
  assert.equal(await s.sweep(blobKey(ID), horizon, { dryRun: false, guarded: true }), 3);
  assert.equal(await s.stat(blobKey(ID)), null);
  assert.equal(await s.sweep(blobKey(ID), horizon, { dryRun: false, guarded: false }), -1, 'absent');
  // A crash between hiding and deciding leaves the object in gc-trash/: put back at the next run.
  await s.putIfAbsent(blobKey(ID), 'old');
  const { renameSync, mkdirSync } = await import('node:fs');
  mkdirSync(join(root, 'gc-trash'), { recursive: true });
  renameSync(join(root, 'pool', 'ab', ID), join(root, 'gc-trash', `b-${ID}`));
  assert.equal(s.recoverSweeps(), 1);
  assert.equal((await s.stat(blobKey(ID)))?.size, 3);
  cleanup(root);
});

test('deleteFolder hides a snapshot folder whole before removing it; a crash in between leaves nothing listed', async () => {
  const root = tmp('objs-del');
  const s = new LocalObjectStore(root);
  const SN = 'SHC00000002';
  const keep = snapshotKey(SN, 'datastore-2026-01-01_10:00');
  const doomed = snapshotKey(SN, 'datastore-2026-01-02_10:00');
  await s.putIfAbsent(keep, '{"keep":1}');
  await s.putIfAbsent(doomed, '{"gone":1}');
  writeFileSync(join(root, 'users', SN, 'datastore-2026-01-02_10:00', 'extra'), 'older layout file');
  assert.equal(await s.deleteFolder(snapshotFolderKey(SN, 'datastore-2026-01-02_10:00')), true);
  assert.equal(await s.stat(doomed), null);
  assert.deepEqual(await listed(s, `users/${SN}/`), [keep]);
  assert.deepEqual(readdirSync(join(root, 'users', SN)), ['datastore-2026-01-01_10:00'], 'nothing left behind');
  assert.equal(await s.deleteFolder(snapshotFolderKey(SN, 'datastore-2026-01-02_10:00')), false, 'absent');

  // A crash after the hiding step: the hidden folder is neither listed nor read, and is removed later.
  mkdirSync(join(root, 'users', SN, '.tmp-del-datastore-2026-01-03_10:00-0000'));
  writeFileSync(join(root, 'users', SN, '.tmp-del-datastore-2026-01-03_10:00-0000', 'snapshot.json'), '{}');
  assert.deepEqual(await listed(s, `users/${SN}/`), [keep]);
  assert.equal(s.removeLeftovers(userKey(SN)), 1);
  assert.deepEqual(readdirSync(join(root, 'users', SN)), ['datastore-2026-01-01_10:00']);

  // A laptop's whole folder (records and account files).
  writeFileSync(join(root, 'users', SN, 'restore-code.json'), '{}');
  assert.equal(await s.deleteFolder(userKey(SN)), true);
  assert.deepEqual(readdirSync(join(root, 'users')), []);
  assert.deepEqual(await listed(s, 'users/'), []);
  await assert.rejects(s.deleteFolder('users/..'), /bad object key/);
  cleanup(root);
});
