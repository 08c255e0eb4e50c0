/**
 * Proof of possession (issue 16 §4, protocol/proof.ts): a laptop that knows
 * another account's blob hash can neither cite it in its trees nor read its
 * bytes by any route, and learns no size; a laptop that really has the same
 * file proves it instead of uploading it and restores it byte for byte; a
 * wrong HMAC means uploading; a nonce is single use; a store whose snapshots
 * predate the ownership table keeps working (also after `reindex`); legacy
 * folder ingest owns what is in its folders; a big file on 30 laptops is
 * stored once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MissingAnswer, ProofsAnswer } from '../src/protocol/api-types.js';
import { proofHmac } from '../src/protocol/proof.js';
import { frameHeader } from '../src/protocol/frames.js';
import { ingestFolders } from '../src/server/legacy/folder-ingest.js';
import { Store } from '../src/server/store/store.js';
import { grantOwnership } from '../src/server/catalog/ownership.js';
import { SCHEMA_VERSION } from '../src/server/catalog/schema.js';
import { bytes, treeOf } from './helpers/store-files.js';
import {
  agent,
  backupJson,
  cleanup,
  registered,
  serverCli,
  serverForSuite,
  startServer,
  tmp,
  token,
  type TestServer,
} from './helpers/harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The data file of the first entry of a generated Journal. */
function firstDataFile(profile: string): string {
  const ds = join(profile, 'datastore');
  const prefix = readdirSync(ds)
    .filter((d) => d.length === 2)
    .sort()[0];
  const uid = readdirSync(join(ds, prefix)).sort()[0];
  return join(ds, prefix, uid, 'data');
}

interface Answer<T> {
  status: number;
  json: T;
  text: string;
}

function client(url: string, bearer: string) {
  return async function api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    raw?: Buffer,
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${bearer}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (raw) headers['content-type'] = 'application/octet-stream';
    const res = await fetch(url + path, {
      method,
      headers,
      body: raw ? new Uint8Array(raw) : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = Buffer.from(await res.arrayBuffer()).toString('latin1');
    let json: T;
    try {
      json = JSON.parse(text) as T;
    } catch {
      json = null as T;
    }
    return { status: res.status, json, text };
  };
}

/** Points a registered profile at a server restarted on another port. */
function pointAt(profile: string, url: string): void {
  const file = join(profile, 'ds-backup', 'config.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { server: string };
  writeFileSync(file, JSON.stringify({ ...cfg, server: url }));
}

const commitBody = (t: { id: string; text: string }) => ({
  sources: [{ source: 'documents', root: t.id, trees: { [t.id]: t.text } }],
});

let srv: TestServer;
serverForSuite((s) => (srv = s));

describe('proof of possession', () => {
  test('a laptop that only knows a hash cannot cite it, prove it or read it, and learns no size', async () => {
    const a = await registered(srv.url, 'SHPOP00A01', { entries: 4 });
    const secret = bytes(300 * KiB, 'the secret of laptop A');
    const id = sha(secret);
    writeFileSync(firstDataFile(a.profile), secret);
    await backupJson(a.profile);
    const aRoot = (
      srv.ctx.store.db.prepare("SELECT root FROM snapshots WHERE serial = 'SHPOP00A01'").get() as { root: string }
    ).root;

    const b = await registered(srv.url, 'SHPOP00B01', { entries: 2 });
    const api = client(srv.url, token(b.profile));
    const lease = (await api<{ lease: string }>('POST', '/api/v1/backups')).json.lease;

    // An agent that cannot prove is told to upload; one that can is challenged.
    const plain = await api<MissingAnswer>('POST', `/api/v1/backups/${lease}/missing`, { ids: [id] });
    assert.deepEqual(plain.json, { missing: [id] });
    const asked = await api<MissingAnswer>('POST', `/api/v1/backups/${lease}/missing`, { ids: [id], prove: true });
    assert.deepEqual(asked.json.missing, []);
    assert.deepEqual(asked.json.challenge!.ids, [id]);
    assert.match(asked.json.challenge!.nonce, /^[0-9a-f]{64}$/);

    // A wrong answer (the HMAC of other bytes, or of the hash itself) proves nothing.
    const { nonce } = asked.json.challenge!;
    const wrong = proofHmac(nonce).update(id).digest('hex');
    const p = await api<ProofsAnswer>('POST', `/api/v1/backups/${lease}/proofs`, { nonce, proofs: { [id]: wrong } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json, { proven: [], refused: [id] });
    // The nonce was used up, even by a failed answer; the right proof now comes too late.
    const right = proofHmac(nonce).update(secret).digest('hex');
    const again = await api('POST', `/api/v1/backups/${lease}/proofs`, { nonce, proofs: { [id]: right } });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error, 'conflict');

    // The commit of a hand-made tree citing the blob is refused exactly like one
    // citing a blob nobody has, whether the size is right or not: no size, no existence.
    const nobody = sha('nobody has this');
    const answers: Array<Answer<Record<string, unknown>>> = [];
    for (const [bid, size] of [
      [id, secret.length],
      [id, 12345],
      [nobody, secret.length],
    ] as const) {
      const c = await api('POST', `/api/v1/backups/${lease}/commit`, commitBody(treeOf([['stolen.bin', bid, size]])));
      assert.equal(c.status, 422, c.text);
      assert.equal(c.json.error, 'missing_blobs');
      assert.ok(!c.text.includes(String(secret.length)), `no size in ${c.text}`);
      answers.push(c);
    }
    const shape = (c: Answer<Record<string, unknown>>) => c.text.replace(/[0-9a-f]{64}/g, 'ID');
    assert.equal(shape(answers[0]), shape(answers[2]), 'owned-by-another and absent answer alike');
    assert.equal(shape(answers[1]), shape(answers[2]));

    // A resumable upload does not say "complete" (nor the size) for a blob this account does not own.
    const off = await api('GET', `/api/v1/backups/${lease}/uploads/${id}`);
    assert.deepEqual(off.json, { offset: 0, complete: false });

    // No read route serves A's blob or trees to B, and the refusals are the same as for nothing.
    for (const [what, path, body] of [
      ['GET blob', `/api/v1/blobs/${id}`, undefined],
      ['fetch', '/api/v1/blobs/fetch', { ids: [id] }],
      ['trees', '/api/v1/trees', { ids: [aRoot] }],
    ] as const) {
      const method = body ? 'POST' : 'GET';
      const got = await api(method, path, body);
      assert.equal(got.status, 404, `${what}: ${got.text}`);
      assert.ok(!got.text.includes(secret.subarray(0, 16).toString('latin1')), `${what} leaks no bytes`);
      assert.ok(!got.text.includes(String(secret.length)), `${what} leaks no size`);
      const none = await api(method, path.replace(id, nobody).replace(aRoot, nobody), body ? { ids: [nobody] } : body);
      assert.equal(shape(got), shape(none), `${what}: same answer as for a blob nobody has`);
    }
    const snaps = await client(srv.url, token(a.profile))<{ snapshots: Array<{ name: string }> }>(
      'GET',
      '/api/v1/snapshots',
    );
    const entries = await api('GET', `/api/v1/snapshots/SHPOP00A01/${snaps.json.snapshots[0].name}/entries`);
    assert.equal(entries.status, 404);

    // Another lease's (or account's) nonce is not accepted either.
    const asked2 = await api<MissingAnswer>('POST', `/api/v1/backups/${lease}/missing`, { ids: [id], prove: true });
    const aApi = client(srv.url, token(a.profile));
    const aLease = (await aApi<{ lease: string }>('POST', '/api/v1/backups')).json.lease;
    const n2 = asked2.json.challenge!.nonce;
    const foreign = await aApi('POST', `/api/v1/backups/${aLease}/proofs`, {
      nonce: n2,
      proofs: { [id]: proofHmac(n2).update(secret).digest('hex') },
    });
    assert.equal(foreign.status, 409, foreign.text);
    await aApi('DELETE', `/api/v1/backups/${aLease}`);
    // ... and a lease's challenges die with it.
    await api('DELETE', `/api/v1/backups/${lease}`);
    const lease2 = (await api<{ lease: string }>('POST', '/api/v1/backups')).json.lease;
    const late = await api('POST', `/api/v1/backups/${lease2}/proofs`, {
      nonce: n2,
      proofs: { [id]: proofHmac(n2).update(secret).digest('hex') },
    });
    assert.equal(late.status, 409, late.text);

    // With the bytes, the right proof makes the blob B's own and the commit goes through.
    const asked3 = await api<MissingAnswer>('POST', `/api/v1/backups/${lease2}/missing`, { ids: [id], prove: true });
    const n3 = asked3.json.challenge!.nonce;
    const ok = await api<ProofsAnswer>('POST', `/api/v1/backups/${lease2}/proofs`, {
      nonce: n3,
      proofs: { [id]: proofHmac(n3).update(secret).digest('hex') },
    });
    assert.deepEqual(ok.json, { proven: [id], refused: [] });
    const c = await api(
      'POST',
      `/api/v1/backups/${lease2}/commit`,
      commitBody(treeOf([['mine.bin', id, secret.length]])),
    );
    assert.equal(c.status, 200, c.text);
    const blob = await api('GET', `/api/v1/blobs/${id}`);
    assert.equal(blob.status, 200);
    assert.ok(Buffer.from(blob.text, 'latin1').equals(secret));
    cleanup(a.profile, b.profile);
  });

  test("uploading the bytes (a wrong proof, or an agent that cannot prove) makes the blob the account's own", async () => {
    const a = await registered(srv.url, 'SHPOP00A02', { entries: 2 });
    const shared = bytes(5000, 'a worksheet');
    const id = sha(shared);
    writeFileSync(firstDataFile(a.profile), shared);
    await backupJson(a.profile);

    const b = await registered(srv.url, 'SHPOP00B02', { entries: 2 });
    const api = client(srv.url, token(b.profile));
    const lease = (await api<{ lease: string }>('POST', '/api/v1/backups')).json.lease;
    const asked = await api<MissingAnswer>('POST', `/api/v1/backups/${lease}/missing`, { ids: [id], prove: true });
    const nonce = asked.json.challenge!.nonce;
    const p = await api<ProofsAnswer>('POST', `/api/v1/backups/${lease}/proofs`, {
      nonce,
      proofs: { [id]: 'f'.repeat(64) },
    });
    assert.deepEqual(p.json.refused, [id]);
    const up = await api<{ stored: number; duplicates: number }>(
      'POST',
      `/api/v1/backups/${lease}/blobs`,
      undefined,
      Buffer.concat([frameHeader(id, 0, shared.length), shared]),
    );
    assert.equal(up.status, 200, up.text);
    assert.equal(up.json.duplicates, 1, 'the pool had it: stored once');
    const c = await api('POST', `/api/v1/backups/${lease}/commit`, commitBody(treeOf([['w.txt', id, shared.length]])));
    assert.equal(c.status, 200, c.text);
    cleanup(a.profile, b.profile);
  });

  test('a laptop with the same big file proves it instead of sending it, and restores it byte for byte', async () => {
    const big = bytes(6 * MiB, 'the class PDF');
    const medium = bytes(600 * KiB, 'a class photo'); // one whole-file blob
    const a = await registered(srv.url, 'SHPOP00A03', { entries: 4 });
    writeFileSync(firstDataFile(a.profile), big);
    const docsA = join(a.profile, 'Documents');
    mkdirSync(docsA, { recursive: true });
    writeFileSync(join(docsA, 'photo.jpg'), medium);
    const first = await backupJson(a.profile);
    assert.ok(first.uploadedBytes >= big.length + medium.length);

    const b = await registered(srv.url, 'SHPOP00B03', { entries: 4 });
    writeFileSync(firstDataFile(b.profile), big);
    const docsB = join(b.profile, 'Documents');
    mkdirSync(docsB, { recursive: true });
    writeFileSync(join(docsB, 'same-photo.jpg'), medium);
    const r = await backupJson(b.profile);
    assert.ok(r.provenBytes >= big.length + medium.length, `proved ${r.provenBytes} bytes`);
    assert.ok(r.provenBlobs > 10, `proved ${r.provenBlobs} blobs (chunks and the photo)`);
    assert.ok(r.sentBytes < 500 * KiB, `B sent ${r.sentBytes} bytes on the wire`);
    assert.ok(r.uploadedBytes < 200 * KiB, `B uploaded ${r.uploadedBytes} bytes of blobs`);

    const out = tmp('pop-restore');
    const rr = await agent(['restore', '--profile', b.profile, '--all', '--to', out]);
    assert.equal(rr.code, 0, rr.stderr);
    const rel = firstDataFile(b.profile).slice(join(b.profile, 'datastore').length + 1);
    assert.ok(readFileSync(join(out, 'datastore', rel)).equals(big), 'big file restored byte for byte');
    const docs = readdirSync(out).find((d) => d !== 'datastore')!;
    assert.ok(readFileSync(join(out, docs, 'same-photo.jpg')).equals(medium), 'photo restored byte for byte');
    cleanup(out, a.profile, b.profile);
  });

  test('the same big file on 30 laptops is stored once and sent once', async () => {
    const big = bytes(3 * MiB, 'the textbook');
    const pool = srv.ctx.store.pool;
    const profiles: string[] = [];
    const sent: number[] = [];
    const serial = (i: number) => `SHPOP30${String(i).padStart(3, '0')}`;
    const one = async (i: number) => {
      const l = await registered(srv.url, serial(i), { entries: 1 });
      writeFileSync(firstDataFile(l.profile), big);
      profiles.push(l.profile);
      sent[i] = (await backupJson(l.profile)).sentBytes;
    };
    await one(0);
    for (let i = 1; i < 30; i += 5) await Promise.all([0, 1, 2, 3, 4].filter((k) => i + k < 30).map((k) => one(i + k)));
    assert.ok(sent[0] >= big.length);
    for (let i = 1; i < 30; i++) assert.ok(sent[i] < big.length / 8, `laptop ${i} sent ${sent[i]} bytes`);
    // Every chunk of the file is one pool object, whatever the number of laptops.
    const row = srv.ctx.store.db
      .prepare(
        "SELECT data_blob FROM entries WHERE data_size = ? AND account_id = (SELECT account_id FROM devices WHERE serial = 'SHPOP30029')",
      )
      .get(big.length) as { data_blob: string };
    const chunks = row.data_blob
      .slice('chunks:'.length)
      .split(',')
      .slice(1)
      .map((c) => c.slice(0, 64));
    let stored = 0;
    for (const c of chunks) {
      const size = await pool.blobSize(c);
      assert.ok(size > 0);
      stored += size;
    }
    assert.equal(stored, big.length, 'one copy of the file in the pool');
    const serials = srv.ctx.store.db
      .prepare(
        `SELECT DISTINCT d.serial FROM account_blobs a JOIN devices d ON d.account_id = a.account_id WHERE a.id = ?`,
      )
      .pluck()
      .all(chunks[0]) as string[];
    assert.deepEqual(
      serials.filter((sn) => sn.startsWith('SHPOP30')).sort(),
      Array.from({ length: 30 }, (_, i) => serial(i)),
      `all 30 accounts reference it (${serials.join(' ')})`,
    );
    cleanup(...profiles);
  });
});

describe('ownership across upgrades, reindex and legacy ingest', () => {
  test('snapshots made before the ownership table keep working, also after reindex', async () => {
    const root = tmp('pop-upgrade');
    let s = await startServer({ root });
    let closed = false;
    const stop = async () => {
      if (!closed) await s.close();
      closed = true;
    };
    try {
      const shared = bytes(200 * KiB, 'upgrade shared');
      const c = await registered(s.url, 'SHPOP00C01', { entries: 3 });
      const d = await registered(s.url, 'SHPOP00D01', { entries: 3 });
      writeFileSync(firstDataFile(c.profile), shared);
      writeFileSync(firstDataFile(d.profile), shared);
      await backupJson(c.profile);
      await backupJson(d.profile);
      await stop();

      // The catalog as the previous release left it: no ownership table, schema version 3.
      const db = new Database(join(root, 'catalog.sqlite'));
      db.exec('DROP TABLE blob_owners');
      db.pragma('user_version = 3');
      db.close();

      s = await startServer({ root });
      closed = false;
      for (const p of [c.profile, d.profile]) pointAt(p, s.url);
      const v = s.ctx.store.db.pragma('user_version', { simple: true });
      assert.equal(v, SCHEMA_VERSION, 'migrated on open');
      // Unchanged and changed backups work; the old blobs need neither upload nor proof.
      writeFileSync(join(c.profile, 'datastore', 'new-note.txt'), 'hello');
      const again = await backupJson(c.profile);
      assert.equal(again.provenBlobs, 0);
      const dd = await backupJson(d.profile);
      assert.equal(dd.provenBlobs, 0);
      // A hand-made tree citing the shared blob (D's own through its old snapshot) commits.
      const api = client(s.url, token(d.profile));
      const lease = (await api<{ lease: string }>('POST', '/api/v1/backups')).json.lease;
      const t = treeOf([['copy.bin', sha(shared), shared.length]]);
      const ok = await api('POST', `/api/v1/backups/${lease}/commit`, commitBody(t));
      assert.equal(ok.status, 200, ok.text);
      await stop();

      // reindex rebuilds ownership from the snapshots.
      const ri = await serverCli(['reindex', '--root', root]);
      assert.equal(ri.code, 0, ri.stderr);
      s = await startServer({ root });
      closed = false;
      for (const p of [c.profile, d.profile]) pointAt(p, s.url);
      const api2 = client(s.url, token(d.profile));
      const lease2 = (await api2<{ lease: string }>('POST', '/api/v1/backups')).json.lease;
      const m = await api2<MissingAnswer>('POST', `/api/v1/backups/${lease2}/missing`, {
        ids: [sha(shared)],
        prove: true,
      });
      assert.deepEqual(m.json, { missing: [] }, 'owned through the reindexed snapshots');
      const t2 = treeOf([['copy2.bin', sha(shared), shared.length]]);
      const ok2 = await api2('POST', `/api/v1/backups/${lease2}/commit`, commitBody(t2));
      assert.equal(ok2.status, 200, ok2.text);
      const out = tmp('pop-upgrade-restore');
      const rr = await agent(['restore', '--profile', c.profile, '--all', '--to', out]);
      assert.equal(rr.code, 0, rr.stderr);
      const rel = firstDataFile(c.profile).slice(join(c.profile, 'datastore').length + 1);
      assert.ok(readFileSync(join(out, 'datastore', rel)).equals(shared));
      cleanup(out, c.profile, d.profile);
    } finally {
      await stop();
      cleanup(root);
    }
  });

  test('legacy folder ingest owns the files in its folders without a challenge', async () => {
    const root = tmp('pop-legacy');
    const store = new Store(root);
    const shared = bytes(100 * KiB, 'legacy shared');
    const reg = (serial: string) => store.registry.register({ serial, nickname: serial }).device;
    const native = reg('SHPOP00N01');
    const legacy = reg('SHPOP00L01');
    // A native laptop's upload put the blob in the pool first.
    const staged = await store.pool.stageBlob(sha(shared), [shared]);
    await store.pool.flush();
    await store.pool.publish([staged]);
    grantOwnership(store.db, native.account_id, [sha(shared)]);
    // The legacy laptop's rsynced folder holds the same file: its snapshot may cite it.
    const dir = join(tmp('pop-legacy-home'), 'documents');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'same.pdf'), shared);
    const r = await ingestFolders(store, legacy, [{ source: 'documents', dir, excludes: new Set() }]);
    assert.equal(r.snapshots.length, 1);
    assert.equal(r.copiedBlobs, 0, 'the pool had it: not copied again');
    const owned = store.db
      .prepare('SELECT 1 FROM account_blobs WHERE account_id = ? AND id = ?')
      .get(legacy.account_id, sha(shared));
    assert.ok(owned, 'referenced by the legacy account');
    assert.equal(statSync(join(dir, 'same.pdf')).size, shared.length);
    store.close();
    cleanup(root, dir);
  });
});
