/**
 * The scan's per-folder cache: what it reads again, what it reuses, and what
 * it reports as changed (and so sends) — the contract behind a no-change
 * backup costing a stat per file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCache, saveCache } from '../src/snapshot/cache.js';
import { scanSource, scanSourceAsync, type ScanResult } from '../src/snapshot/scan.js';
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

/** A scan, then the cache saved as a successful backup leaves it. */
function committedScan(src: string, cache: string): ScanResult {
  const r = scanSource('documents', src, cache, 'srv');
  r.cache.committed = 'dirs';
  r.cache.root = r.root;
  saveCache(cache, r.cache);
  return r;
}

test('an unchanged folder tree is neither read nor reported as changed', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  const first = committedScan(src, cache);
  assert.equal(first.hashedFiles, 3);
  assert.equal(first.changedDirs.size, 4);
  const again = scanSource('documents', src, cache, 'srv');
  assert.equal(again.root, first.root);
  assert.equal(again.hashedFiles, 0);
  assert.equal(again.changedDirs.size, 0);
  assert.equal(again.changedTrees.size, 0);
  assert.equal(again.candidates.size, 0);
  assert.equal(again.cacheDirty, false);
  assert.equal(again.files, 3);
  cleanup(src);
});

test('a changed file re-reads only that file; its folder and every parent change', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  committedScan(src, cache);
  writeFileSync(join(src, 'a', 'b', 'big'), 'C'.repeat(5000));
  utimesSync(join(src, 'a', 'b', 'big'), new Date(), new Date(Date.now() + 5000));
  const r = scanSource('documents', src, cache, 'srv');
  assert.equal(r.hashedFiles, 1);
  assert.deepEqual([...r.changedDirs].sort(), ['', 'a', 'a/b']);
  assert.equal(r.changedTrees.size, 3);
  assert.equal(r.candidates.size, 1, 'only the new blob is offered');
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
  assert.equal(r.changedDirs.size, 0, 'same content: nothing to send');
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
  assert.deepEqual([...r.changedDirs].sort(), ['', 'c']);
  cleanup(src);
});

test('folders hashed by a run that never committed are still sent by the next run', async () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  const first = scanSource('documents', src, cache, 'srv');
  saveCache(cache, first.cache); // the early save of a run whose commit then failed
  assert.equal(typeof loadCache(cache).committed, 'object');
  const offered: string[] = [];
  const r = await scanSourceAsync('documents', src, cache, 'srv', new Set(), {
    onCandidate: (b) => offered.push(b.id),
    pause: () => null,
  });
  assert.equal(r.hashedFiles, 0, 'nothing is read again');
  assert.equal(r.changedDirs.size, 4, 'but every folder is still new to the server');
  assert.equal(r.changedTrees.size, 4);
  assert.equal(offered.length, 2, 'each pool blob offered once');
  cleanup(src);
});

test('another server, or a cache of an older format, starts over', () => {
  const src = folder();
  const cache = join(tmp('cachefile'), 'c.json');
  committedScan(src, cache);
  const other = scanSource('documents', src, cache, 'another');
  assert.equal(other.hashedFiles, 0, 'hashes are still good');
  assert.equal(other.changedDirs.size, 4, 'but nothing counts as committed there');
  writeFileSync(cache, JSON.stringify({ v: 2, files: {}, committed: {} }));
  assert.equal(scanSource('documents', src, cache, 'srv').hashedFiles, 3);
  cleanup(src);
});
