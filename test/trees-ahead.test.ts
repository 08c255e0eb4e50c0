/**
 * Trees sent ahead of the commit (POST /backups/:lease/trees, tree-stash.ts):
 * checked when they arrive, usable only by a commit of the same lease,
 * published children first, and never left behind in incoming/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../src/agent/client.js';
import { AppError } from '../src/platform/errors.js';
import { serializeTree, treeId, type Tree, type TreeEntry } from '../src/protocol/tree.js';
import { childrenFirst } from '../src/server/ingest/ingest.js';
import { cleanup, registered, serverForSuite, token, type TestServer } from './helpers/harness.js';

let srv: TestServer;
serverForSuite((s) => (srv = s));

const T = 1_700_000_000_000;
function tree(entries: TreeEntry[]): { id: string; text: string } {
  const text = serializeTree(entries);
  return { id: treeId(text), text };
}

/** root → a/ (a file and empty/), b/ → empty/ : the empty tree is shared. */
function snapshotTrees() {
  const empty = tree([]);
  const a = tree([
    ['empty', 'd', 0o755, T, 0, empty.id],
    ['note', 'i', 0o644, T, 5, Buffer.from('hello').toString('base64')],
  ]);
  const b = tree([['empty', 'd', 0o755, T, 0, empty.id]]);
  const root = tree([
    ['a', 'd', 0o755, T, 0, a.id],
    ['b', 'd', 0o755, T, 0, b.id],
  ]);
  return { empty, a, b, root, all: Object.fromEntries([empty, a, b, root].map((t) => [t.id, t.text])) };
}

async function device(serial: string) {
  const l = await registered(srv.url, serial, { entries: 1 });
  const client = new ApiClient(srv.url, token(l.profile));
  return { client, token: token(l.profile), done: async () => (await client.close(), cleanup(l.profile)) };
}

const incoming = () => readdirSync(join(srv.root, 'incoming')).filter((n) => n.endsWith('.tmp'));
const lease = async (c: ApiClient) => c.json<{ lease: string; treesAhead?: boolean }>('POST', '/api/v1/backups');

test('publish order puts every subtree first, even one shared by two parents', () => {
  const t = snapshotTrees();
  const parsed = new Map(Object.entries(t.all).map(([id, text]) => [id, { tree: JSON.parse(text) as Tree }]));
  const order = childrenFirst(parsed);
  assert.equal(order.length, 4);
  for (const [i, id] of order.entries()) {
    for (const e of parsed.get(id)!.tree.e)
      if (e[1] === 'd') assert.ok(order.indexOf(e[5]) < i, `${e[0]} before its parent`);
  }
});

test('trees sent ahead make a commit that carries none of them', async () => {
  const d = await device('AHEAD0001');
  try {
    const t = snapshotTrees();
    const l = await lease(d.client);
    assert.equal(l.treesAhead, true);
    const r = await d.client.json<{ stashed: number }>('POST', `/api/v1/backups/${l.lease}/trees`, {
      json: { trees: t.all },
    });
    assert.equal(r.stashed, 4);
    assert.equal(incoming().length, 4, 'staged, not published');
    const c = await d.client.json<{ snapshots: Array<{ files: number }> }>(
      'POST',
      `/api/v1/backups/${l.lease}/commit`,
      { json: { sources: [{ source: 'datastore', root: t.root.id, trees: {} }] } },
    );
    assert.equal(c.snapshots[0].files, 1);
    assert.deepEqual(incoming(), [], 'every staged tree published or removed');
    const back = await d.client.json<{ trees: Record<string, string> }>('POST', '/api/v1/trees', {
      json: { ids: [t.root.id, t.empty.id] },
    });
    assert.equal(back.trees[t.empty.id], t.empty.text);
  } finally {
    await d.done();
  }
});

test('a bad tree is refused when it arrives; a stash serves only its own lease and ends with it', async () => {
  const d = await device('AHEAD0002');
  const other = await device('AHEAD0003');
  try {
    const t = snapshotTrees();
    const l = await lease(d.client);
    const badName = tree([['..', 'd', 0o755, T, 0, t.empty.id]]);
    await assert.rejects(
      d.client.json('POST', `/api/v1/backups/${l.lease}/trees`, { json: { trees: { [badName.id]: badName.text } } }),
      (e: AppError) => e.code === 'invalid_manifest',
    );
    await assert.rejects(
      d.client.json('POST', `/api/v1/backups/${l.lease}/trees`, { json: { trees: { [t.a.id]: t.b.text } } }),
      (e: AppError) => e.code === 'hash_mismatch',
    );
    assert.deepEqual(incoming(), [], 'nothing staged from a refused request');
    await d.client.json('POST', `/api/v1/backups/${l.lease}/trees`, { json: { trees: t.all } });
    const ol = await lease(other.client);
    await assert.rejects(
      other.client.json('POST', `/api/v1/backups/${ol.lease}/commit`, {
        json: { sources: [{ source: 'datastore', root: t.root.id, trees: {} }] },
      }),
      (e: AppError) => e.code === 'missing_blobs',
      'another laptop cannot commit what this one sent ahead',
    );
    await d.client.json('DELETE', `/api/v1/backups/${l.lease}`);
    assert.deepEqual(incoming(), [], 'an abandoned stash leaves no files');
    await other.client.json('DELETE', `/api/v1/backups/${ol.lease}`);
  } finally {
    await d.done();
    await other.done();
  }
});

test('two uploads of the same large blob at once: the second is refused, the pool keeps the right bytes', async () => {
  const d = await device('AHEAD0004');
  try {
    const data = Buffer.alloc(5 * 1024 * 1024, 7);
    const id = createHash('sha256').update(data).digest('hex');
    const l = await lease(d.client);
    const path = `/api/v1/backups/${l.lease}/uploads/${id}`;
    const headers = { 'upload-offset': '0', 'upload-length': String(data.length) };
    let release!: () => void;
    const held = new Promise<void>((ok) => (release = ok));
    const slow = (async function* () {
      yield data.subarray(0, 1024 * 1024);
      await held;
      yield data.subarray(1024 * 1024);
    })();
    const first = d.client.json<{ complete: boolean }>('PATCH', path, { body: slow, headers });
    const other = new ApiClient(srv.url, d.token);
    // Until the server holds the first MiB: then a second PATCH at that offset is
    // exactly one the offset check accepts, and only the one-at-a-time rule refuses.
    for (let i = 0; i < 200; i++) {
      const st = await other.json<{ offset: number }>('GET', path);
      if (st.offset === 1024 * 1024) break;
      await new Promise((ok) => setTimeout(ok, 25));
    }
    await assert.rejects(
      other.json('PATCH', path, {
        body: data.subarray(1024 * 1024),
        headers: { ...headers, 'upload-offset': String(1024 * 1024) },
      }),
      (e: AppError) => e.code === 'conflict' && /in progress/.test(e.message),
    );
    await other.close();
    release();
    assert.equal((await first).complete, true);
    assert.ok(
      readFileSync(join(srv.root, 'pool', id.slice(0, 2), id)).equals(data),
      'the published blob holds the right bytes',
    );
  } finally {
    await d.done();
  }
});
