/**
 * Every read path verifies what it serves (issue #16 §6): a pool object whose
 * bytes no longer hash to its name is never served as a complete answer —
 * not by the web's data, .xoj, zip, .xob and Documents downloads, nor by
 * WebDAV GET (ranges included) — and `verify` lists what reads met, even
 * when it samples nothing. A small object fails before a byte leaves (a
 * 500 `damaged` answer); a large one cuts the download (the client sees a
 * failed transfer). Unit tests of the verifying wrapper on the real local
 * store come first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LocalObjectStore } from '../src/server/store/local-store.js';
import { blobKey } from '../src/server/store/object-store.js';
import { HOLD, verifiedReads } from '../src/server/store/verified-reads.js';
import { verifyStore } from '../src/server/retention/verify.js';
import { entryKind, entryName, entryRef, isDirEntry, readTrustedTree, type TreeEntry } from '../src/protocol/tree.js';
import { parseChunkList } from '../src/protocol/chunked.js';
import { agent, backupJson, cleanup, registered, startServer, tmp, type TestServer } from './helpers/harness.js';
import { WebClient } from './helpers/web-client.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dirs: string[] = [];
after(() => cleanup(...dirs));

/** Flips one byte of a stored object in place (same size, as bit rot would). */
function flip(root: string, key: string, at = -1): void {
  const path = join(root, ...key.split('/'));
  const b = readFileSync(path);
  b[at < 0 ? b.length + at : at] ^= 0x40;
  chmodSync(path, 0o644);
  writeFileSync(path, b);
}

/** Reads a stream to its end: the bytes, or the error that ended it. */
async function drain(s: AsyncIterable<unknown>): Promise<{ bytes: Buffer; error: Error | null }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of s) parts.push(c as Buffer);
    return { bytes: Buffer.concat(parts), error: null };
  } catch (e) {
    return { bytes: Buffer.concat(parts), error: e as Error };
  }
}

describe('verifiedReads on the local store', () => {
  const root = tmp('vr');
  dirs.push(root);
  const flagged: string[] = [];
  const store = verifiedReads(new LocalObjectStore(root), (id) => flagged.push(id));
  const small = randomBytes(5000);
  const big = randomBytes(HOLD * 3 + 123);

  before(async () => {
    await store.putIfAbsent(blobKey(sha(small)), small);
    await store.putIfAbsent(blobKey(sha(big)), big);
  });

  test('whole objects and ranges of them read back exactly', async () => {
    assert.ok((await drain(store.get(blobKey(sha(big))))).bytes.equals(big));
    const r = await drain(store.get(blobKey(sha(big)), { start: 1000, end: HOLD + 77 }));
    assert.ok(r.bytes.equals(big.subarray(1000, HOLD + 77)));
    assert.ok(store.sync!.read(blobKey(sha(small))).equals(small));
    assert.deepEqual(flagged, []);
  });

  test('a damaged object: get fails before any byte (small) or with its tail missing (large); sync reads throw', async () => {
    flip(root, blobKey(sha(small)), 10);
    flip(root, blobKey(sha(big)));
    const s = await drain(store.get(blobKey(sha(small))));
    assert.equal(s.bytes.length, 0, 'nothing of a small damaged object is released');
    assert.match(String(s.error), /damaged/);
    const b = await drain(store.get(blobKey(sha(big))));
    assert.ok(b.error, 'the read fails');
    assert.ok(b.bytes.length < big.length, `released ${b.bytes.length} of ${big.length} bytes`);
    const ranged = await drain(store.get(blobKey(sha(big)), { start: 0, end: 100 }));
    assert.ok(ranged.error && ranged.bytes.length === 0, 'a range of a damaged object fails too');
    assert.throws(() => store.sync!.read(blobKey(sha(small))), /damaged/);
    const reader = store.sync!.open(blobKey(sha(big)));
    const buf = Buffer.alloc(big.length);
    assert.throws(() => {
      for (let off = 0; off < big.length;) off += reader.read(buf, off, Math.min(HOLD, big.length - off), off);
    }, /damaged/);
    reader.close();
    assert.ok(flagged.includes(sha(small)) && flagged.includes(sha(big)));
  });
});

/** The file entry `name` anywhere under a tree. */
async function findEntry(srv: TestServer, root: string, name: string): Promise<TreeEntry> {
  const stack = [root];
  while (stack.length) {
    for (const e of readTrustedTree(await srv.ctx.store.pool.readTree(stack.pop()!)).e) {
      if (entryName(e) === name && !isDirEntry(e)) return e;
      if (isDirEntry(e)) stack.push(entryRef(e));
    }
  }
  throw new Error(`no ${name}`);
}

describe('no read path serves a damaged pool object', () => {
  const A = 'SHF7000970';
  let srv: TestServer;
  let profile: string;
  let web: WebClient;
  let code: string;
  let bigEntry: number;
  let smallEntry: number;
  const BIG = randomBytes(3 * 1024 * 1024 + 17); // chunked (≥ 1 MiB)
  const SMALL = randomBytes(300_001); // one blob, under HOLD
  const damagedIds: string[] = [];
  let middleAt = 0;

  before(async () => {
    srv = await startServer({ davAllowHttp: true, metricsToken: 'm'.repeat(32) });
    const l = await registered(srv.url, A, { entries: 6, documents: true });
    profile = l.profile;
    dirs.push(srv.root, profile);
    writeFileSync(join(profile, 'Documents', 'big.bin'), BIG);
    writeFileSync(join(profile, 'Documents', 'small.bin'), SMALL);
    // Two Journal entries get these contents as their data files.
    const uids = l.summary.entries.filter((e) => e.hasData).map((e) => e.uid);
    writeFileSync(join(profile, 'datastore', uids[0].slice(0, 2), uids[0], 'data'), BIG);
    writeFileSync(join(profile, 'datastore', uids[1].slice(0, 2), uids[1], 'data'), SMALL);
    await backupJson(profile);
    const db = srv.ctx.store.db;
    const id = (uid: string) => (db.prepare('SELECT id FROM entries WHERE uid = ?').pluck().get(uid) as number) ?? -1;
    bigEntry = id(uids[0]);
    smallEntry = id(uids[1]);
    const docs = db.prepare("SELECT root FROM snapshots WHERE source = 'documents'").pluck().get() as string;
    const big = await findEntry(srv, docs, 'big.bin');
    assert.equal(entryKind(big), 'c');
    const chunks = parseChunkList(entryRef(big)).chunks;
    const m = Math.floor(chunks.length / 2);
    const middle = chunks[m][0];
    middleAt = chunks.slice(0, m).reduce((a, [, n]) => a + n, 0);
    flip(srv.root, blobKey(middle));
    flip(srv.root, blobKey(sha(SMALL)));
    damagedIds.push(middle, sha(SMALL));
    const r = await agent(['restore', '--web', '--no-open', '--profile', profile]);
    web = new WebClient(srv.url);
    assert.equal((await web.get(new URL(r.stdout.trim()).pathname)).status, 303);
    code = srv.ctx.store.restoreCodes.get(A);
  });
  after(() => srv.close());

  /** A GET's status and whether its body arrived whole, with the bytes. */
  async function fetchAll(res: Response): Promise<{ status: number; whole: boolean; body: Buffer }> {
    try {
      return { status: res.status, whole: true, body: Buffer.from(await res.arrayBuffer()) };
    } catch {
      return { status: res.status, whole: false, body: Buffer.alloc(0) };
    }
  }

  const failed = (r: { status: number; whole: boolean }, what: string) =>
    assert.ok((r.status !== 200 && r.status !== 206) || !r.whole, `${what}: answered ${r.status} with a whole body`);

  test('web downloads: data, .xoj, zip, .xob and Documents files fail; small ones answer 500 damaged', async () => {
    const small = await web.get(`/ui/j/${A}/v/${smallEntry}/data`);
    assert.equal(small.status, 500);
    assert.match(await small.text(), /damaged/);
    failed(await fetchAll(await web.get(`/ui/j/${A}/v/${bigEntry}/data`)), 'big data');
    failed(await fetchAll(await web.get(`/ui/j/${A}/v/${bigEntry}/entry.xoj`)), 'big .xoj');
    failed(await fetchAll(await web.get(`/ui/j/${A}/v/${smallEntry}/entry.xoj`)), 'small .xoj');
    const snap = srv.ctx.store.db.prepare("SELECT serial, name FROM snapshots WHERE source = 'datastore'").get() as {
      serial: string;
      name: string;
    };
    failed(await fetchAll(await web.get(`/ui/j/${A}/b/${snap.serial}/${snap.name}/all.zip`)), 'zip');
    failed(await fetchAll(await web.get(`/ui/j/${A}/b/${snap.serial}/${snap.name}/all.xob`)), 'xob');
    const docs = srv.ctx.store.db.prepare("SELECT serial, name FROM snapshots WHERE source = 'documents'").get() as {
      serial: string;
      name: string;
    };
    const file = (p: string) => `/ui/j/${A}/docs/${docs.serial}/${docs.name}/file?path=${encodeURIComponent(p)}`;
    failed(await fetchAll(await web.get(file('big.bin'))), 'Documents big.bin');
    assert.equal((await web.get(file('small.bin'))).status, 500);
  });

  test('WebDAV GET (whole and ranged) fails', async () => {
    const auth = { Authorization: `Basic ${Buffer.from(`${A}:${code}`).toString('base64')}` };
    const get = (p: string, h: Record<string, string> = {}) =>
      fetch(`${srv.url}/dav/me/Documents/${p}`, { headers: { ...auth, ...h } });
    failed(await fetchAll(await get('big.bin')), 'DAV big.bin');
    failed(await fetchAll(await get('big.bin', { Range: `bytes=${middleAt + 5}-${middleAt + 9}` })), 'DAV range');
    const intact = await fetchAll(await get('big.bin', { Range: `bytes=${BIG.length - 1000}-` }));
    assert.equal(intact.status, 206, 'a range of intact chunks is served');
    assert.ok(intact.body.equals(BIG.subarray(BIG.length - 1000)));
    const small = await fetchAll(await get('small.bin'));
    assert.equal(small.status, 500, 'a small damaged file is refused before any byte');
  });

  test('the server still answers, and verify lists every damaged object even when sampling none', async () => {
    assert.equal((await fetch(`${srv.url}/api/v1/ping`)).status, 200);
    const metrics = await (
      await fetch(`${srv.url}/metrics`, { headers: { Authorization: `Bearer ${'m'.repeat(32)}` } })
    ).text();
    assert.match(metrics, /^ds_backup_damaged_reads_total [1-9]/m);
    assert.match(metrics, /^ds_backup_damaged_flagged_objects 2$/m);
    const flags = readdirSync(join(srv.root, 'run', 'damaged'));
    for (const id of damagedIds) assert.ok(flags.includes(id), `read flagged ${id.slice(0, 12)}`);
    const v = await verifyStore(srv.ctx.store, { samplePct: 0 });
    assert.deepEqual(v.damaged.map((d) => d.id).sort(), [...damagedIds].sort());
    assert.ok(
      v.damaged.every((d) => d.snapshots.length > 0),
      'each names the snapshots it affects',
    );
    // Repaired (the admin put the right bytes back): the next verify forgets the flag.
    flip(srv.root, blobKey(sha(SMALL)));
    const again = await verifyStore(srv.ctx.store, { samplePct: 0 });
    assert.deepEqual(
      again.damaged.map((d) => d.id),
      [damagedIds[0]],
    );
    assert.ok(!existsSync(join(srv.root, 'run', 'damaged', sha(SMALL))));
    assert.equal((await web.get(`/ui/j/${A}/v/${smallEntry}/data`)).status, 200);
  });
});
