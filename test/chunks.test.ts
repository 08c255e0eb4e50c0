/**
 * Content-defined chunks (issue #13): the FastCDC chunker, the "c" tree
 * entry, and big files end to end — a small edit sends a small delta, the
 * same file on a second laptop sends nothing, restores (full, one entry),
 * web downloads, verify and cleanup all read chunked files.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CDC_MAX, CDC_MIN, Chunker, cutAll, type Cut } from '../src/protocol/fastcdc.js';
import { formatChunkList, parseChunkList } from '../src/protocol/chunked.js';
import { runCleanup, DEFAULT_CLEANUP } from '../src/server/retention/cleanup.js';
import { verifyStore } from '../src/server/retention/verify.js';
import { makeEntry, parseTree, serializeTree, blobsOf } from '../src/protocol/tree.js';
import { sha256Hex } from '../src/protocol/hash.js';
import { agent, backupJson, cleanup, registered, serverForSuite, tmp, type TestServer } from './helpers/harness.js';
import { bytes } from './helpers/store-files.js';

const MiB = 1024 * 1024;
const ids = (data: Buffer, cuts: Cut[]) => cuts.map((c) => sha256Hex(data.subarray(c.offset, c.offset + c.size)));

describe('FastCDC chunker', () => {
  const data = bytes(8 * MiB, 'cdc');
  const cuts = cutAll(data);

  test('chunks cover the data, within min and max, about the average size', () => {
    let at = 0;
    for (const [i, c] of cuts.entries()) {
      assert.equal(c.offset, at);
      assert.ok(c.size <= CDC_MAX);
      if (i < cuts.length - 1) assert.ok(c.size >= CDC_MIN, `chunk ${i} is ${c.size} bytes`);
      at += c.size;
    }
    assert.equal(at, data.length);
    const avg = data.length / cuts.length;
    assert.ok(avg > 40 * 1024 && avg < 110 * 1024, `average ${avg}`);
  });

  test('the same cuts whatever pieces the file is read in', () => {
    for (const piece of [1000, 65536, 3 * MiB]) {
      const got: Cut[] = [];
      const c = new Chunker((_b, cut) => got.push(cut));
      for (let at = 0; at < data.length; at += piece) c.push(data.subarray(at, at + piece));
      c.end();
      assert.deepEqual(got, cuts, `pieces of ${piece}`);
    }
  });

  test('an overwrite changes one or two chunks; an insertion near the start changes a few', () => {
    const before = new Set(ids(data, cuts));
    const edited = Buffer.from(data);
    bytes(100, 'edit').copy(edited, 4 * MiB);
    const inserted = Buffer.concat([data.subarray(0, 5000), bytes(4096, 'ins'), data.subarray(5000)]);
    for (const [what, d] of [
      ['overwrite', edited],
      ['insertion', inserted],
    ] as const) {
      const fresh = ids(d, cutAll(d)).filter((id) => !before.has(id));
      assert.ok(fresh.length >= 1 && fresh.length <= 3, `${what}: ${fresh.length} new chunks`);
    }
  });
});

describe('"c" tree entries', () => {
  const whole = sha256Hex('x');
  const a = sha256Hex('a');
  const b = sha256Hex('b');
  const tree = (size: number, ref: string) => serializeTree([makeEntry('big', 'c', 0o644, 1, size, ref)]);

  test('a valid chunk list parses; blobsOf names its chunks in order', () => {
    const t = parseTree(
      tree(
        300,
        formatChunkList(whole, [
          [a, 100],
          [b, 150],
          [a, 50],
        ]),
      ),
    );
    assert.deepEqual(blobsOf(t.e[0]), [
      [a, 100],
      [b, 150],
      [a, 50],
    ]);
  });

  test('bad chunk lists are refused', () => {
    for (const [size, ref] of [
      [300, formatChunkList(whole, [[a, 100]])], // sizes do not add up
      [100, whole], // no chunk
      [100, `nothex,${a}:100`],
      [100, `${whole},${a}:0100`], // not canonical
      [CDC_MAX + 1, `${whole},${a}:${CDC_MAX + 1}`], // chunk too big
      [100, `${whole},${a.slice(1)}:100`],
    ] as const)
      assert.throws(() => parseTree(tree(size, ref)), /invalid|chunk|hash/i, ref.slice(0, 80));
  });
});

const noQuota = () => ({ totalBytes: 1e12, usedBytes: 1e9, totalInodes: 1e9, usedInodes: 1e3 });
let srv: TestServer;
serverForSuite((s) => (srv = s));

/** The data file of the first entry of a generated Journal. */
function firstDataFile(profile: string): string {
  const ds = join(profile, 'datastore');
  const prefix = readdirSync(ds).find((d) => d.length === 2)!;
  const uid = readdirSync(join(ds, prefix))[0];
  return join(ds, prefix, uid, 'data');
}

describe('big files end to end', () => {
  test('a 100-byte edit of a 6 MB file sends about one chunk; same file on a second laptop sends no chunk; restores are exact', async () => {
    const l = await registered(srv.url, 'SHF7001300', { entries: 5 });
    const file = firstDataFile(l.profile);
    const big = bytes(6 * MiB, 'big file');
    writeFileSync(file, big);
    const first = await backupJson(l.profile);
    assert.ok(first.uploadedBytes >= big.length, `first backup uploaded ${first.uploadedBytes}`);

    bytes(100, 'small edit').copy(big, 3 * MiB);
    writeFileSync(file, big);
    const second = await backupJson(l.profile);
    assert.ok(second.uploadedBlobs <= 3, `uploaded ${second.uploadedBlobs} blobs`);
    assert.ok(second.sentBytes < 600 * 1024, `sent ${second.sentBytes} bytes for a 100-byte edit of 6 MB`);

    // Full restore reproduces the file.
    const out = tmp('restore');
    const rr = await agent(['restore', '--profile', l.profile, '--all', '--to', out]);
    assert.equal(rr.code, 0, rr.stderr);
    const rel = file.slice(join(l.profile, 'datastore').length + 1);
    assert.ok(readFileSync(join(out, 'datastore', rel)).equals(big), 'restored big file');

    // One-entry restore and the web's data download read chunks too.
    const uid = rel.split('/')[1];
    const one = tmp('entry');
    const er = await agent(['restore', '--profile', l.profile, '--entry', uid, '--to', one]);
    assert.equal(er.code, 0, er.stderr);
    const pool = srv.ctx.store.pool;
    const row = srv.ctx.store.db
      .prepare('SELECT data_blob FROM entries WHERE uid = ? ORDER BY id DESC LIMIT 1')
      .get(uid) as { data_blob: string };
    assert.match(row.data_blob, /^chunks:/);
    const src = pool.refSource(row.data_blob);
    assert.equal(await pool.sourceSize(src), big.length);
    const parts: Buffer[] = [];
    for await (const c of pool.sourceStream(src)) parts.push(c as Buffer);
    assert.ok(Buffer.concat(parts).equals(big), 'web download streams the chunks in order');

    // A second laptop with the same big file: its chunks are already stored.
    const l2 = await registered(srv.url, 'SHF7001301', { entries: 5 });
    writeFileSync(firstDataFile(l2.profile), big);
    const other = await backupJson(l2.profile);
    assert.ok(other.sentBytes < 400 * 1024, `second laptop sent ${other.sentBytes} bytes`);

    // A full GC keeps every chunk a snapshot names (refs reach chunks through the
    // trees' chunk lists); verify finds nothing damaged; the file still restores.
    const store = srv.ctx.store;
    await runCleanup(store, DEFAULT_CLEANUP, { disk: noQuota, slackMs: 0, fullGc: true });
    for (const [id] of parseChunkList(row.data_blob.slice('chunks:'.length)).chunks)
      assert.ok((await pool.blobSize(id)) > 0, `chunk ${id} survives GC`);
    const v = await verifyStore(store);
    assert.deepEqual(v.damaged, []);
    const out2 = tmp('restore');
    assert.equal((await agent(['restore', '--profile', l2.profile, '--all', '--to', out2])).code, 0);
    const rel2 = firstDataFile(l2.profile).slice(join(l2.profile, 'datastore').length + 1);
    assert.ok(readFileSync(join(out2, 'datastore', rel2)).equals(big), 'restored after GC');
    cleanup(out, out2, one, l.profile, l2.profile);
  });
});
