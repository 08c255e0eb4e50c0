/**
 * Unit tests of the wire formats: trees (canonical, checked) and frames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INLINE_MAX, parseTree, serializeTree, treeId, type TreeEntry } from '../src/protocol/tree.js';
import { frameHeader, FLAG_DEFLATE } from '../src/protocol/frames.js';
import { readFrames } from '../src/protocol/frame-parser.js';
import { sha256Hex } from '../src/protocol/hash.js';
import { splitRelPath, isSnapshotName } from '../src/protocol/names.js';
import { AppError } from '../src/platform/errors.js';

const H = sha256Hex('x');

test('a canonical tree round-trips and its id is the hash of its bytes', () => {
  const entries: TreeEntry[] = [
    ['a', 'f', 0o644, 1.5, 1, H],
    ['b', 'd', 0o755, 2, 0, H],
    ['c', 'l', 0o777, 3, 0, '../x'],
  ];
  const text = serializeTree(entries);
  assert.deepEqual(parseTree(text).e, entries);
  assert.equal(treeId(text), sha256Hex(text));
});

test('trees with bad names, kinds, sizes, order or spacing are refused', () => {
  const bad = [
    '{"v":1,"e":[["a","f",420,1,1,"' + H + '"],["a","f",420,1,1,"' + H + '"]]}',
    '{"v":1,"e":[["a","x",420,1,1,"' + H + '"]]}',
    '{"v":1,"e":[["a","f",420,1,-1,"' + H + '"]]}',
    '{"v":1,"e":[["a","f",420,1,1,"nothex"]]}',
    '{"v":1,"e":[["a","d",420,1,5,"' + H + '"]]}',
    '{"v":1,"e":[["a","l",420,1,0,""]]}',
    '{"v": 1,"e":[]}',
    '{"v":2,"e":[]}',
    'null',
    '[',
  ];
  for (const t of bad)
    assert.throws(
      () => parseTree(t),
      (e: unknown) => e instanceof AppError && e.code === 'invalid_manifest',
      t,
    );
});

test('frames split across any chunk boundaries are read back whole', async () => {
  const blobs = [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(70_000, 7)];
  const stream = Buffer.concat(
    blobs.flatMap((b, i) => [frameHeader(sha256Hex(b), i === 2 ? FLAG_DEFLATE : 0, b.length), b]),
  );
  for (const size of [1, 5, 37, 1000, stream.length]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
    const got = [];
    for await (const f of readFrames(
      (async function* () {
        yield* chunks;
      })(),
      1 << 20,
    ))
      got.push(f);
    assert.deepEqual(
      got.map((f) => f.payload),
      blobs,
    );
    assert.deepEqual(
      got.map((f) => f.id),
      blobs.map((b) => sha256Hex(b)),
    );
    assert.equal(got[2].flags, FLAG_DEFLATE);
  }
});

test('frames refuse lengths over the limit before buffering, and truncated streams', async () => {
  const over = frameHeader(H, 0, 2 << 20);
  await assert.rejects(async () => {
    for await (const _ of readFrames(
      (async function* () {
        yield over;
      })(),
      1 << 20,
    ))
      void _;
  }, /exceeds/);
  const cut = Buffer.concat([frameHeader(H, 0, 10), Buffer.from('abc')]);
  await assert.rejects(async () => {
    for await (const _ of readFrames(
      (async function* () {
        yield cut;
      })(),
      1 << 20,
    ))
      void _;
  }, /ended inside a frame/);
});

test('relative paths and snapshot names are checked', () => {
  assert.deepEqual(splitRelPath('a/b'), ['a', 'b']);
  for (const p of ['/etc/passwd', '../x', 'a/../b', 'a//b', 'a\0b', ''])
    assert.throws(() => splitRelPath(p), AppError, p);
  assert.ok(isSnapshotName('datastore-2026-11-26_06:26'));
  assert.ok(isSnapshotName('datastore-2026-11-26_06:26:05'));
  assert.ok(!isSnapshotName('datastore-latest'));
  assert.ok(!isSnapshotName('../datastore-2026-11-26_06:26'));
});

test('inline files: base64 of at most INLINE_MAX bytes, canonical, size matching', () => {
  const ok = (ref: string, size: number) => serializeTree([['a', 'i', 0o644, 1, size, ref]]);
  assert.equal(parseTree(ok(Buffer.from('hello').toString('base64'), 5)).e[0][5], 'aGVsbG8=');
  assert.equal(parseTree(ok('', 0)).e[0][4], 0);
  const bad = [
    ok('aGVsbG8=', 4), // size does not match
    ok(Buffer.alloc(INLINE_MAX + 1).toString('base64'), INLINE_MAX + 1), // too big to be inline
    ok('aGVsbG8', 5), // not canonical base64
    ok('a/../b==', 5),
  ];
  for (const t of bad)
    assert.throws(
      () => parseTree(t),
      (e: unknown) => e instanceof AppError && e.code === 'invalid_manifest',
      t,
    );
});
