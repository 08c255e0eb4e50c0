/**
 * The scan's per-folder cache: what it reads again, what it reuses, and what
 * it reports as changed (and so sends) — the contract behind a no-change
 * backup costing a stat per file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CacheReader, markCommitted, postOrderCmp, readCache } from '../src/snapshot/cache.js';
import { scanSource, scanSourceAsync, type ScanHooks, type ScanResult } from '../src/snapshot/scan.js';
import { cleanup, tmp } from './helpers/harness.js';

function folder(): string {
  const src = tmp('scancache');
  mkdirSync(join(src, 'a', 'b'), { recursive: true });
  mkdirSync(join(src, 'c'));
  writeFileSync(join(src, 'a', 'b', 'big'), 'B'.repeat(5000));
  writeFileSync(join(src, 'a', 'tiny'), 'tiny');
  writeFileSync(join(src, 'c', 'doc'), 'D'.repeat(300));
  // Written a minute ago: a file modified just before a scan is read again by the next one (racy).
  const past = new Date(Date.now() - 60_000);
  for (const f of ['a/b/big', 'a/tiny', 'c/doc']) utimesSync(join(src, f), past, past);
  return src;
}

/** A scan, then the cache marked as a successful backup leaves it. */
function committedScan(src: string, cache: string): ScanResult {
  const r = scanSource('documents', src, cache, 'srv');
  markCommitted(cache, r.folders, r.root);
  return r;
}

/** A scan that also reports the changed folders' trees and the blobs it offers. */
function watched(src: string, cache: string, server = 'srv', hooks: ScanHooks = {}) {
  const trees: string[] = [];
  const offered: string[] = [];
  const r = scanSource('documents', src, cache, server, new Set(), {
    ...hooks,
    onTree: (id) => trees.push(id),
    onCandidate: (b) => offered.push(b.id),
  });
  return { r, trees, offered };
}

test('an unchanged folder tree is neither read nor reported as changed', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  const first = committedScan(src, cache);
  assert.equal(first.hashedFiles, 3);
  assert.equal(first.changedFolders, 4);
  const { r: again, trees, offered } = watched(src, cache);
  assert.equal(again.root, first.root);
  assert.equal(again.hashedFiles, 0);
  assert.equal(again.changedFolders, 0);
  assert.equal(trees.length, 0);
  assert.equal(offered.length, 0);
  assert.equal(again.cacheDirty, false, 'the cache file is not rewritten');
  assert.equal(again.wasCommitted, true);
  assert.equal(again.files, 3);
  cleanup(src);
});

test('a changed file re-reads only that file; its folder and every parent change', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  committedScan(src, cache);
  writeFileSync(join(src, 'a', 'b', 'big'), 'C'.repeat(5000));
  utimesSync(join(src, 'a', 'b', 'big'), new Date(), new Date(Date.now() + 5000));
  const { r, trees, offered } = watched(src, cache);
  assert.equal(r.hashedFiles, 1);
  assert.equal(r.changedFolders, 3, 'a/b, a and the root');
  assert.equal(trees.length, 3);
  assert.equal(offered.length, 1, 'only the new blob is offered');
  assert.equal(r.cacheDirty, true);
  cleanup(src);
});

test('a file modified just before the scan is read again by the next scan', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  writeFileSync(join(src, 'c', 'doc'), 'F'.repeat(300)); // mtime: now
  committedScan(src, cache);
  const r = scanSource('documents', src, cache, 'srv');
  assert.equal(r.hashedFiles, 1, 'only the racy file');
  assert.equal(r.changedFolders, 0, 'same content: nothing to send');
  cleanup(src);
});

test('a file replaced by another of the same size and mtime is read again (the inode differs)', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  const first = committedScan(src, cache);
  const doc = join(src, 'c', 'doc');
  const st = statSync(doc);
  writeFileSync(join(src, 'c', 'doc.new'), 'E'.repeat(300));
  utimesSync(join(src, 'c', 'doc.new'), st.atime, st.mtime);
  renameSync(join(src, 'c', 'doc.new'), doc);
  const r = scanSource('documents', src, cache, 'srv');
  assert.equal(r.hashedFiles, 1);
  assert.notEqual(r.root, first.root);
  cleanup(src);
});

test('a mode change is a new tree without reading the file', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  const first = committedScan(src, cache);
  chmodSync(join(src, 'c', 'doc'), 0o600);
  const r = scanSource('documents', src, cache, 'srv');
  assert.equal(r.hashedFiles, 0);
  assert.notEqual(r.root, first.root);
  assert.equal(r.changedFolders, 2, 'c and the root');
  cleanup(src);
});

test('folders hashed by a run that never committed are still sent by the next run', async () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  scanSource('documents', src, cache, 'srv'); // a run whose commit then failed: its cache is written, not marked
  const offered: string[] = [];
  const r = await scanSourceAsync('documents', src, cache, 'srv', new Set(), {
    onCandidate: (b) => offered.push(b.id),
    pause: () => null,
  });
  assert.equal(r.hashedFiles, 0, 'nothing is read again');
  assert.equal(r.changedFolders, 4, 'but every folder is still new to the server');
  assert.equal(offered.length, 2, 'each pool blob offered once');
  cleanup(src);
});

test('another server, or a cache of an older format, starts over', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  committedScan(src, cache);
  const other = scanSource('documents', src, cache, 'another');
  assert.equal(other.hashedFiles, 0, 'hashes are still good');
  assert.equal(other.changedFolders, 4, 'but nothing counts as committed there');
  writeFileSync(cache, JSON.stringify({ v: 2, files: {}, committed: {} }));
  assert.equal(scanSource('documents', src, cache, 'srv').hashedFiles, 3);
  cleanup(src);
});

test('the cache file is in the walk order (post-order) and reads back a folder at a time', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.cache');
  const r = committedScan(src, cache);
  const rels = [...readCache(cache, 'srv')].map((d) => d.rel);
  assert.deepEqual(rels, ['a/b', 'a', 'c', '']);
  assert.deepEqual([...rels].sort(postOrderCmp), rels);
  assert.equal(r.folders, 4);
  const root = [...readCache(cache, 'srv')].pop()!;
  assert.equal(root.id, r.root);
  assert.equal(root.committed, root.id, 'marked committed');
  assert.deepEqual(
    [...readCache(cache, 'another')].map((d) => d.committed),
    ['', '', '', ''],
    "another server's commits do not count",
  );
  cleanup(src);
});

test('the cache reader holds one folder, not the file: a big cache is read as the walk goes', () => {
  const src = tmp('scancache-wide');
  for (let i = 0; i < 400; i++) {
    mkdirSync(join(src, `d${String(i).padStart(3, '0')}`));
    writeFileSync(join(src, `d${String(i).padStart(3, '0')}`, 'f'.repeat(200)), 'x'.repeat(600) + i);
  }
  const cache = join(tmp('cachefile'), 'c.cache');
  committedScan(src, cache);
  const size = statSync(cache).size;
  const reader = new CacheReader(cache, 'srv');
  const first = reader.take('d000')!;
  assert.equal(first.rel, 'd000');
  assert.ok(reader.bytesRead < size / 2, `read ${reader.bytesRead} of ${size} bytes for the first folder`);
  assert.equal(reader.take('d001')!.rel, 'd001');
  assert.equal(reader.take('d002a'), undefined, 'a folder the file lacks');
  assert.equal(reader.take('d003')!.rel, 'd003', 'd002 is passed over (gone)');
  assert.equal(reader.skipped, 1);
  reader.close();
  cleanup(src);
});

test('a removed folder leaves the cache; an unchanged run leaves the file as it was', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.cache');
  committedScan(src, cache);
  const before = readFileSync(cache);
  watched(src, cache);
  assert.ok(readFileSync(cache).equals(before), 'not rewritten');
  rmSync(join(src, 'a'), { recursive: true });
  const { r } = watched(src, cache);
  assert.equal(r.cacheDirty, true);
  assert.deepEqual(
    [...readCache(cache, 'srv')].map((d) => d.rel),
    ['c', ''],
  );
  assert.equal(r.changedFolders, 1, 'only the root changed');
  cleanup(src);
});

test('a damaged cache file only costs a re-read', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.cache');
  committedScan(src, cache);
  const text = readFileSync(cache, 'utf8');
  writeFileSync(cache, text.replace(/\t[0-9a-f]{64}\t/, '\tdamaged\t'));
  const r = scanSource('documents', src, cache, 'srv');
  assert.ok(r.hashedFiles >= 1 && r.hashedFiles <= 3);
  writeFileSync(cache, text.slice(0, text.length / 2)); // torn: no trailer
  assert.equal(scanSource('documents', src, cache, 'srv').hashedFiles, 3);
  cleanup(src);
});
