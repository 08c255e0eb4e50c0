/**
 * Folder depth (issue #16 §7): a snapshot nests at most MAX_TREE_DEPTH
 * levels. A 20,000-level chain in one commit, and a chain built deeper over
 * several commits by reusing an earlier snapshot's root, are refused with
 * 422 tree_too_deep (not a 500, and not accepted to fail at restore); a
 * commit exactly at the limit is accepted and restores. Unit tests of the
 * bounded, iterative depth walk first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_TREE_DEPTH } from '../src/protocol/limits.js';
import { makeEntry, serializeTree, treeId, type Tree } from '../src/protocol/tree.js';
import { treeDepth, type DepthSource } from '../src/server/ingest/tree-depth.js';
import { agent, cleanup, registered, startServer, tmp, token, type TestServer } from './helpers/harness.js';

/** A chain of `n` folders (n trees) on top of `base` (a tree id) or an empty leaf; texts by id and the top id. */
function chain(n: number, base?: string): { trees: Record<string, string>; top: string } {
  const trees: Record<string, string> = {};
  let child = base;
  for (let i = 0; i < n; i++) {
    const text = serializeTree(child ? [makeEntry('d', 'd', 0o755, 1000, 0, child)] : []);
    child = treeId(text);
    trees[child] = text;
  }
  return { trees, top: child! };
}

describe('treeDepth (unit)', () => {
  const source = (trees: Record<string, string>, known: Record<string, number> = {}): DepthSource => ({
    tree: (id) => JSON.parse(trees[id]) as Tree,
    known: (id) => known[id] ?? null,
  });

  test('counts levels; a shared subtree is counted once; known depths are used', () => {
    const c = chain(5);
    assert.equal(treeDepth(source(c.trees), c.top, 256), 5);
    const leaf = serializeTree([]);
    const wide = serializeTree([
      makeEntry('a', 'd', 0o755, 1, 0, c.top),
      makeEntry('b', 'd', 0o755, 1, 0, treeId(leaf)),
      makeEntry('c', 'd', 0o755, 1, 0, c.top),
    ]);
    const all = { ...c.trees, [treeId(leaf)]: leaf, [treeId(wide)]: wide };
    assert.equal(treeDepth(source(all), treeId(wide), 256), 6);
    assert.equal(
      treeDepth(source({ [treeId(wide)]: wide }, { [c.top]: 100, [treeId(leaf)]: 1 }), treeId(wide), 256),
      101,
    );
  });

  test('stops as soon as the limit is passed, however deep the chain (no recursion)', () => {
    const c = chain(50_000);
    let opened = 0;
    const src = source(c.trees);
    const counting: DepthSource = { ...src, tree: (id) => (opened++, src.tree(id)) };
    assert.equal(treeDepth(counting, c.top, 256), Infinity);
    assert.ok(opened <= 257, `opened ${opened} trees`);
    assert.equal(treeDepth(src, c.top, 50_000), 50_000);
    assert.equal(treeDepth(src, c.top, 49_999), Infinity);
  });
});

describe('the commit enforces the depth limit', () => {
  let srv: TestServer;
  let profile: string;
  let tok: string;
  const SN = 'SHF7000980';

  before(async () => {
    srv = await startServer();
    profile = (await registered(srv.url, SN, { entries: 2, documents: true })).profile;
    tok = token(profile);
  });
  after(async () => {
    await srv.close();
    cleanup(srv.root, profile);
  });

  async function commit(root: string, trees: Record<string, string>) {
    const h = { authorization: `Bearer ${tok}`, 'content-type': 'application/json' };
    const l = await fetch(`${srv.url}/api/v1/backups`, { method: 'POST', headers: { authorization: h.authorization } });
    assert.equal(l.status, 201);
    const { lease } = (await l.json()) as { lease: string };
    const r = await fetch(`${srv.url}/api/v1/backups/${lease}/commit`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ sources: [{ source: 'documents', root, trees }] }),
    });
    const body = (await r.json()) as { error?: string; message?: string };
    if (r.status !== 200) await fetch(`${srv.url}/api/v1/backups/${lease}`, { method: 'DELETE', headers: h });
    return { status: r.status, body };
  }

  test('a 20,000-level chain in one commit → 422 tree_too_deep', async () => {
    const c = chain(20_000);
    const r = await commit(c.top, c.trees);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error, 'tree_too_deep');
    assert.match(r.body.message!, /256/);
  });

  test('depth built over several commits is refused at the commit that passes the limit', async () => {
    const first = chain(200);
    assert.equal((await commit(first.top, first.trees)).status, 200);
    const over = chain(MAX_TREE_DEPTH - 200 + 1, first.top);
    const r = await commit(over.top, over.trees);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error, 'tree_too_deep');
    // The same when the reused root's depth is not recorded (a catalog indexed before depths were kept).
    srv.ctx.store.db.exec('UPDATE tree_stats SET depth = NULL');
    assert.equal((await commit(over.top, over.trees)).status, 422);
    const exact = chain(MAX_TREE_DEPTH - 200, first.top);
    assert.equal((await commit(exact.top, exact.trees)).status, 200, 'exactly at the limit is accepted');
    const depth = srv.ctx.store.db.prepare('SELECT depth FROM tree_stats WHERE id = ?').pluck().get(exact.top);
    assert.equal(depth, MAX_TREE_DEPTH);
    // One more level on top of the accepted one is refused again.
    const more = chain(1, exact.top);
    assert.equal((await commit(more.top, more.trees)).status, 422);
  });

  test('the agent skips folders deeper than the limit with a warning, and the backup restores', async () => {
    let dir = join(profile, 'Documents');
    for (let i = 0; i < MAX_TREE_DEPTH + 5; i++) dir = join(dir, 'd');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'deep.txt'), 'too deep');
    const b = await agent(['backup', '--profile', profile]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout + b.stderr, /nest deeper than 256/);
    const out = tmp('deep-restore');
    const r = await agent(['restore', '--all', '--profile', profile, '--to', out]);
    assert.equal(r.code, 0, r.stderr);
    let restored = join(out, 'documents');
    for (let i = 0; i < MAX_TREE_DEPTH - 1; i++) restored = join(restored, 'd');
    assert.ok(existsSync(restored), 'the folders down to the limit are restored');
    assert.ok(!existsSync(join(restored, 'd')), 'the ones below are not');
    cleanup(out);
  });
});
