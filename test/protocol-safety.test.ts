/**
 * Nothing a client sends is trusted: bad paths, bad hashes, bad tokens,
 * other laptops' data and oversized bodies are refused with a JSON error and
 * nothing is written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, existsSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { frameHeader } from '../src/protocol/frames.js';
import { sha256Hex } from '../src/protocol/hash.js';
import { serializeTree, treeId, type TreeEntry } from '../src/protocol/tree.js';
import { agent, backupJson, cleanup, registered, startServer, token, type TestServer } from './helpers/harness.js';
import { treeFile } from './helpers/store-files.js';

let srv: TestServer;
let tokA: string;
let tokB: string;
let profA: string;
let profB: string;

before(async () => {
  srv = await startServer();
  profA = (await registered(srv.url, 'SHC31100365', { entries: 8 })).profile;
  profB = (await registered(srv.url, 'SHC31100366', { entries: 8 })).profile;
  tokA = token(profA);
  tokB = token(profB);
  await backupJson(profA);
  await backupJson(profB);
});
after(async () => {
  await srv.close();
  cleanup(srv.root, profA, profB);
});

async function call(
  method: string,
  path: string,
  opts: { token?: string; json?: unknown; body?: Buffer; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Blob | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.body) {
    headers['content-type'] ??= 'application/octet-stream';
    body = new Blob([new Uint8Array(opts.body)]);
  }
  const res = await fetch(`${srv.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: { error?: string; message?: string; details?: Record<string, unknown> } = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

async function lease(tok: string): Promise<string> {
  const r = await call('POST', '/api/v1/backups', { token: tok });
  assert.equal(r.status, 201);
  return (r.json as unknown as { lease: string }).lease;
}

function snapshotDirs(serial: string): string[] {
  return readdirSync(join(srv.root, 'users', serial))
    .filter((n) => n.startsWith('datastore-'))
    .sort();
}

describe('bad input is refused and nothing is written', () => {
  test('missing or wrong token → 401 with a JSON error', async () => {
    for (const tok of [
      undefined,
      'nonsense',
      'SHC31100365.wrongsecret',
      `${tokB.split('.')[0]}.${tokA.split('.')[1]}`,
    ]) {
      const r = await call('GET', '/api/v1/snapshots', { token: tok });
      assert.equal(r.status, 401, `token ${tok}`);
      assert.equal(r.json.error, 'unauthorized');
      assert.ok(r.json.message);
    }
  });

  test('tree names with .., /, NUL, absolute or over-long names → 400, no snapshot', async () => {
    const blob = sha256Hex('x');
    const before = snapshotDirs('SHC31100365');
    const bad: Array<[string, TreeEntry[]]> = [
      ['dot-dot', [['..', 'f', 0o644, 1, 1, blob]]],
      ['slash', [['a/b', 'f', 0o644, 1, 1, blob]]],
      ['absolute', [['/etc', 'f', 0o644, 1, 1, blob]]],
      ['nul', [['a\0b', 'f', 0o644, 1, 1, blob]]],
      ['long', [['x'.repeat(256), 'f', 0o644, 1, 1, blob]]],
      ['bad-mode', [['a', 'f', 0o100644, 1, 1, blob]]],
    ];
    for (const [what, entries] of bad) {
      const text = serializeTree(entries);
      const l = await lease(tokA);
      const r = await call('POST', `/api/v1/backups/${l}/commit`, {
        token: tokA,
        json: { sources: [{ source: 'datastore', root: treeId(text), trees: { [treeId(text)]: text } }] },
      });
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error, 'invalid_manifest');
      await call('DELETE', `/api/v1/backups/${l}`, { token: tokA });
    }
    const unsorted = JSON.stringify({
      v: 1,
      e: [
        ['b', 'f', 420, 1, 1, blob],
        ['a', 'f', 420, 1, 1, blob],
      ],
    });
    const l = await lease(tokA);
    const r = await call('POST', `/api/v1/backups/${l}/commit`, {
      token: tokA,
      json: { sources: [{ source: 'datastore', root: treeId(unsorted), trees: { [treeId(unsorted)]: unsorted } }] },
    });
    assert.equal(r.status, 400);
    const bad2 = await call('POST', `/api/v1/backups/${l}/commit`, {
      token: tokA,
      json: { sources: [{ source: '../etc', root: blob, trees: {} }] },
    });
    assert.equal(bad2.status, 400);
    assert.deepEqual(snapshotDirs('SHC31100365'), before, 'no snapshot written');
  });

  test('a tree whose id does not match its bytes, or naming blobs not uploaded, is refused', async () => {
    const l = await lease(tokA);
    const text = serializeTree([['a', 'f', 0o644, 1, 5, sha256Hex('never uploaded')]]);
    const wrongId = sha256Hex('something else');
    const r1 = await call('POST', `/api/v1/backups/${l}/commit`, {
      token: tokA,
      json: { sources: [{ source: 'datastore', root: wrongId, trees: { [wrongId]: text } }] },
    });
    assert.equal(r1.status, 422);
    const r2 = await call('POST', `/api/v1/backups/${l}/commit`, {
      token: tokA,
      json: { sources: [{ source: 'datastore', root: treeId(text), trees: { [treeId(text)]: text } }] },
    });
    assert.equal(r2.status, 422);
    assert.equal(r2.json.error, 'missing_blobs');
    assert.ok(!existsSync(treeFile(srv.ctx.store, treeId(text))), 'tree not stored');
  });

  test('a blob whose bytes do not match its hash is rejected and not stored', async () => {
    const l = await lease(tokA);
    const claimed = sha256Hex('the real content');
    const payload = Buffer.from('forged content');
    const r = await call('POST', `/api/v1/backups/${l}/blobs`, {
      token: tokA,
      body: Buffer.concat([frameHeader(claimed, 0, payload.length), payload]),
    });
    assert.equal(r.status, 422);
    assert.equal(r.json.error, 'hash_mismatch');
    assert.equal(await srv.ctx.store.pool.blobSize(claimed), -1);
    const good = Buffer.from('honest');
    const ok = await call('POST', `/api/v1/backups/${l}/blobs`, {
      token: tokA,
      body: Buffer.concat([frameHeader(sha256Hex(good), 0, good.length), good]),
    });
    assert.equal(ok.status, 200);
    assert.equal(await srv.ctx.store.pool.blobSize(sha256Hex(good)), good.length);
  });

  test('a resumable upload that does not match its hash is discarded', async () => {
    const l = await lease(tokA);
    const id = sha256Hex('expected');
    const r = await call('PATCH', `/api/v1/backups/${l}/uploads/${id}`, {
      token: tokA,
      body: Buffer.from('unexpected'),
      headers: { 'upload-offset': '0', 'upload-length': '10' },
    });
    assert.equal(r.status, 422);
    assert.equal(await srv.ctx.store.pool.blobSize(id), -1);
  });

  test("laptop A cannot read laptop B's snapshots, trees or blobs", async () => {
    const snapsB = (await call('GET', '/api/v1/snapshots', { token: tokB })).json as unknown as {
      snapshots: Array<{ name: string; root: string; serial: string }>;
    };
    const s = snapsB.snapshots[0];
    const own = (await call('GET', '/api/v1/snapshots', { token: tokA })).json as unknown as {
      snapshots: Array<{ serial: string }>;
    };
    assert.ok(
      own.snapshots.every((x) => x.serial === 'SHC31100365'),
      'A lists only its own',
    );
    assert.equal((await call('GET', `/api/v1/snapshots/${s.serial}/${s.name}/entries`, { token: tokA })).status, 404);
    assert.equal((await call('POST', '/api/v1/trees', { token: tokA, json: { ids: [s.root] } })).status, 404);
    const tree = (await call('POST', '/api/v1/trees', { token: tokB, json: { ids: [s.root] } })).json as unknown as {
      trees: Record<string, string>;
    };
    const prefix = JSON.parse(tree.trees[s.root]).e[0][5] as string;
    const sub = (await call('POST', '/api/v1/trees', { token: tokB, json: { ids: [prefix] } })).json as unknown as {
      trees: Record<string, string>;
    };
    const entryTree = (JSON.parse(sub.trees[prefix]).e[0] as TreeEntry)[5];
    const et = (await call('POST', '/api/v1/trees', { token: tokB, json: { ids: [entryTree] } })).json as unknown as {
      trees: Record<string, string>;
    };
    const metaDir = (JSON.parse(et.trees[entryTree]).e as TreeEntry[]).find((e) => e[0] === 'metadata')![5];
    const mt = (await call('POST', '/api/v1/trees', { token: tokB, json: { ids: [metaDir] } })).json as unknown as {
      trees: Record<string, string>;
    };
    const uidBlob = (JSON.parse(mt.trees[metaDir]).e as TreeEntry[]).find((e) => e[1] === 'f')![5]; // a pool blob (tiny values are inline)
    assert.equal((await call('GET', `/api/v1/blobs/${uidBlob}`, { token: tokB })).status, 200);
    assert.equal((await call('GET', `/api/v1/blobs/${uidBlob}`, { token: tokA })).status, 404);
    assert.equal((await call('POST', '/api/v1/blobs/fetch', { token: tokA, json: { ids: [uidBlob] } })).status, 404);
    // A's lease cannot be used with B's token.
    const l = await lease(tokA);
    assert.equal((await call('POST', `/api/v1/backups/${l}/heartbeat`, { token: tokB })).status, 410);
  });

  test('oversized bodies → 413', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'a');
    const r = await call('POST', '/api/v1/devices', { body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 413);
    assert.equal(r.json.error, 'too_large');
    const l = await lease(tokA);
    const hdr = frameHeader(sha256Hex('x'), 0, 64 * 1024 * 1024);
    const r2 = await call('POST', `/api/v1/backups/${l}/blobs`, { token: tokA, body: hdr });
    assert.equal(r2.status, 413);
  });

  test('malformed requests → 400 JSON errors', async () => {
    assert.equal((await call('POST', '/api/v1/devices', { json: { serial: '../../etc' } })).status, 400);
    assert.equal((await call('POST', '/api/v1/devices', { json: { serial: 'SHF1', extra: 1 } })).status, 400);
    const r = await fetch(`${srv.url}/api/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { error: string }).error, 'bad_request');
    assert.equal((await call('GET', '/api/v1/nope')).status, 404);
  });

  test('a registered serial cannot be taken over without its token', async () => {
    const r = await call('POST', '/api/v1/devices', { json: { serial: 'SHC31100365', nickname: 'thief' } });
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'already_registered');
    const again = await call('POST', '/api/v1/devices', {
      token: tokB,
      json: { serial: 'SHC31100365', nickname: 'thief' },
    });
    assert.equal(again.status, 409);
    const dev = srv.ctx.store.db.prepare("SELECT token_hash FROM devices WHERE serial = 'SHC31100365'").get() as {
      token_hash: string;
    };
    assert.ok(!tokA.includes(dev.token_hash) && dev.token_hash.length === 64, 'only a hash is stored');
  });

  test('a Journal with unreadable metadata still backs up and the catalog keeps what it could parse', async () => {
    const l = await registered(srv.url, 'SHC31100367', { entries: 6 });
    const ds = join(l.profile, 'datastore');
    const [e1, e2] = l.summary.entries;
    writeFileSync(join(ds, e1.uid.slice(0, 2), e1.uid, 'metadata', 'timestamp'), 'not a number');
    writeFileSync(join(ds, e2.uid.slice(0, 2), e2.uid, 'metadata', 'title'), Buffer.from([0xff, 0xfe, 0x00, 0x41]));
    const locked = join(ds, 'zz-unreadable');
    mkdirSync(locked);
    writeFileSync(join(locked, 'f'), 'x');
    chmodSync(join(locked, 'f'), 0);
    const r = await backupJson(l.profile);
    assert.ok(r.snapshots.length >= 1);
    const rows = srv.ctx.store.db
      .prepare(
        "SELECT uid, title, timestamp, problems FROM entries WHERE account_id = (SELECT account_id FROM devices WHERE serial = 'SHC31100367')",
      )
      .all() as Array<{ uid: string; title: string; problems: string | null }>;
    assert.equal(rows.length, l.summary.entries.length);
    assert.match(rows.find((x) => x.uid === e1.uid)!.problems ?? '', /timestamp/);
    assert.equal(rows.find((x) => x.uid === e1.uid)!.title, e1.title);
    assert.match(rows.find((x) => x.uid === e2.uid)!.problems ?? '', /UTF-8/);
    cleanup(l.profile);
  });
});

describe('agent command line', () => {
  test('exit codes: not registered 3, usage 2, no serial asks for --serial', async () => {
    const l = await registered(srv.url, 'SHC31100368', { entries: 2 });
    const bare = join(l.profile, 'other');
    mkdirSync(join(bare, 'datastore'), { recursive: true });
    const r = await agent(['backup', '--profile', bare]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /not registered/);
    assert.equal((await agent(['restore', '--profile', l.profile])).code, 2);
    assert.equal((await agent(['backup', '--bogus'])).code, 2);
    const noSerial = await agent(['register', '--server', srv.url, '--profile', bare]);
    assert.equal(noSerial.code, 2);
    assert.match(noSerial.stderr, /--serial/);
    mkdirSync(join(bare, 'identifiers'));
    writeFileSync(join(bare, 'identifiers', 'sn'), 'SHF82300C5D\n');
    const detected = await agent(['register', '--server', srv.url, '--profile', bare, '--json']);
    assert.equal(detected.code, 0, detected.stderr);
    assert.equal((JSON.parse(detected.stdout) as { serial: string }).serial, 'SHF82300C5D');
    const st = await agent(['status', '--profile', bare, '--json']);
    assert.equal(st.code, 0);
    const code = (JSON.parse(st.stdout) as { restoreCode: string | null }).restoreCode;
    assert.match(code ?? '', /^\d{4,}$/, 'status shows the restore code');
    assert.match((await agent(['status', '--profile', bare])).stdout, new RegExp(`restore code: +${code}`));
    const help = await agent(['backup', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--profile/);
    cleanup(l.profile);
  });

  test('server busy → exit code 4 with the wait in the message', async () => {
    const busy = await startServer({ maxConcurrent: 1 });
    const l = await registered(busy.url, 'SHC31100369', { entries: 2 });
    const other = await registered(busy.url, 'SHC31100370', { entries: 2 });
    const held = await fetch(`${busy.url}/api/v1/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token(other.profile)}` },
    });
    assert.equal(held.status, 201);
    const r = await agent(['backup', '--profile', l.profile]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /busy/);
    await busy.close();
    cleanup(busy.root, l.profile, other.profile);
  });
});
