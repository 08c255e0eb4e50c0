/**
 * The whole path, end to end: register, back up, list, restore everything and
 * one entry, with the real server and the real agent CLI.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  utimesSync,
  unlinkSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  agent,
  assertSameTree,
  backupJson,
  cleanup,
  fsState,
  JOURNAL_EXCLUDES,
  registered,
  serverForSuite,
  tmp,
  type TestServer,
} from './helpers/harness.js';
import { mutateJournal } from '../src/journal/gen/generator.js';
import { INLINE_MAX } from '../src/protocol/tree.js';
import { sha256Hex } from '../src/protocol/hash.js';
import { readZip } from './helpers/unzip.js';
import { blobFile } from './helpers/store-files.js';

let srv: TestServer;
serverForSuite((s) => (srv = s));

describe('backup and restore', () => {
  test('first backup, list, full restore reproduces the tree byte for byte with modes and mtimes', async () => {
    const { profile } = await registered(srv.url, 'SHF7000500', { entries: 40, documents: true });
    const cfg = statSync(join(profile, 'ds-backup', 'config.json'));
    assert.equal(cfg.mode & 0o777, 0o600, 'token file is 0600');
    const r = await backupJson(profile);
    assert.deepEqual(r.snapshots.map((s) => s.source).sort(), ['datastore', 'documents']);
    const user = join(srv.root, 'users', 'SHF7000500');
    const ds = r.snapshots.find((s) => s.source === 'datastore')!;
    assert.match(ds.name, /^datastore-\d{4}-\d{2}-\d{2}_\d{2}:\d{2}$/);
    assert.ok(existsSync(join(user, ds.name, 'snapshot.json')));
    assert.equal(readlinkSync(join(user, 'datastore-latest')), ds.name);
    // Tiny files (Journal metadata values) live inline in their trees, not as pool files.
    const prefix = readdirSync(join(profile, 'datastore')).find((d) => d.length === 2)!;
    const entryDir = join(profile, 'datastore', prefix, readdirSync(join(profile, 'datastore', prefix))[0]);
    const uid = readFileSync(join(entryDir, 'metadata', 'uid'));
    assert.ok(uid.length <= INLINE_MAX);
    assert.equal(await srv.ctx.store.pool.blobSize(sha256Hex(uid)), -1, 'a tiny file is not a pool blob');
    const done = statSync(join(profile, 'ds-backup-done')).mtimeMs;
    assert.ok(Math.abs(done - Date.now()) < 60_000, 'ds-backup-done touched');

    const list = await agent(['list', '--profile', profile, '--json']);
    assert.equal(list.code, 0);
    assert.equal((JSON.parse(list.stdout) as { snapshots: unknown[] }).snapshots.length, 2);

    const out = tmp('out');
    const rr = await agent(['restore', '--profile', profile, '--all', '--to', out]);
    assert.equal(rr.code, 0, rr.stderr);
    assertSameTree(join(profile, 'datastore'), join(out, 'datastore'), JOURNAL_EXCLUDES);
    assertSameTree(join(profile, 'Documents'), join(out, 'documents'));

    // Interrupted restore: re-running writes only what is missing or wrong.
    const victims = [...fsState(join(out, 'datastore')).entries()]
      .filter(([, v]) => v.startsWith('f'))
      .slice(0, 3)
      .map(([k]) => k);
    unlinkSync(join(out, 'datastore', victims[0]));
    writeFileSync(join(out, 'datastore', victims[1]), 'damaged');
    const again = await agent(['restore', '--profile', profile, '--all', '--to', out, '--json']);
    const res = JSON.parse(again.stdout) as { restored: Array<{ source: string; written: number }> };
    assert.equal(res.restored.find((x) => x.source === 'datastore')!.written, 2);
    assertSameTree(join(profile, 'datastore'), join(out, 'datastore'), JOURNAL_EXCLUDES);
    cleanup(profile, out);
  });

  test('an unchanged backup reads no file, sends almost nothing and adds no entry rows', async () => {
    const { profile } = await registered(srv.url, 'SHF7000501', { entries: 30 });
    await backupJson(profile);
    const rows = () => (srv.ctx.store.db.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n;
    const before = rows();
    const r = await backupJson(profile);
    assert.equal(r.hashedFiles, 0);
    assert.equal(r.uploadedBlobs, 0);
    assert.ok(r.sentBytes < 2000, `sent ${r.sentBytes} bytes`);
    assert.equal(rows(), before, 'no entry rows for an unchanged snapshot');
    cleanup(profile);
  });

  test('a changed Journal sends only the changed files; the catalog grows by the changed entries', async () => {
    const { profile } = await registered(srv.url, 'SHF7000502', { entries: 40 });
    const first = await backupJson(profile);
    const m = mutateJournal(join(profile, 'datastore'), { seed: 'edit', fraction: 0.1 });
    const second = await backupJson(profile);
    assert.ok(
      second.uploadedBlobs > 0 && second.uploadedBlobs < first.uploadedBlobs / 3,
      `uploaded ${second.uploadedBlobs} of ${first.uploadedBlobs}`,
    );
    const db = srv.ctx.store.db;
    const latest = db
      .prepare("SELECT seq FROM snapshots WHERE serial = 'SHF7000502' AND source = 'datastore' ORDER BY seq DESC")
      .get() as { seq: number };
    const fresh = db
      .prepare(
        "SELECT count(*) AS n FROM entries WHERE first_seq = ? AND account_id = (SELECT account_id FROM devices WHERE serial = 'SHF7000502')",
      )
      .get(latest.seq) as { n: number };
    assert.equal(fresh.n, m.changed.length + m.added.length);
    const out = tmp('out');
    assert.equal((await agent(['restore', '--profile', profile, '--all', '--to', out])).code, 0);
    assertSameTree(join(profile, 'datastore'), join(out, 'datastore'), JOURNAL_EXCLUDES);
    // The older snapshot is still restorable as it was.
    const out2 = tmp('out');
    const older = first.snapshots.find((s) => s.source === 'datastore')!.name;
    assert.equal((await agent(['restore', '--profile', profile, '--all', '--snapshot', older, '--to', out2])).code, 0);
    assert.ok(existsSync(join(out2, 'datastore')));
    cleanup(profile, out, out2);
  });

  test('two laptops with the same files store them once; the second does not upload them', async () => {
    const shared = { seed: 'classroom', fraction: 0.8 };
    const a = await registered(srv.url, 'SHF7000503', { entries: 20, sharedPool: shared });
    const b = await registered(srv.url, 'SHF7000504', { entries: 20, sharedPool: shared });
    const hashes = (p: string) =>
      new Set(
        [...fsState(join(p, 'datastore'), JOURNAL_EXCLUDES).values()]
          .filter((v) => v.startsWith('f'))
          .map((v) => v.split(' ')[3]),
      );
    const ha = hashes(a.profile);
    const hb = hashes(b.profile);
    const onlyB = [...hb].filter((h) => !ha.has(h));
    assert.ok(hb.size - onlyB.length > 10, 'the laptops share files');
    await backupJson(a.profile);
    const rb = await backupJson(b.profile);
    assert.ok(
      rb.uploadedBlobs <= onlyB.length,
      `second laptop sent ${rb.uploadedBlobs} blobs; only ${onlyB.length} are its own`,
    );
    const both = [...hb].filter((h) => ha.has(h));
    const sizes = await srv.ctx.store.pool.blobSizes(both);
    const common = both.find((_, i) => sizes[i] > INLINE_MAX)!;
    assert.ok(existsSync(blobFile(srv.ctx.store, common)), 'shared blob stored once in the pool');
    cleanup(a.profile, b.profile);
  });

  test('one entry restores as an entry folder and as a valid .xoj bundle', async () => {
    const l = await registered(srv.url, 'SHF7000505', { entries: 25 });
    await backupJson(l.profile);
    const e = l.summary.entries.find((x) => x.hasData && x.dataSize > 0)!;
    const out = tmp('out');
    const r = await agent(['restore', '--profile', l.profile, '--entry', e.uid, '--to', out]);
    assert.equal(r.code, 0, r.stderr);
    const rel = join(e.uid.slice(0, 2), e.uid);
    assertSameTree(join(l.profile, 'datastore', rel), join(out, 'datastore', rel));
    const x = await agent(['restore', '--profile', l.profile, '--entry', e.uid, '--xoj', '--to', out, '--json']);
    assert.equal(x.code, 0, x.stderr);
    const zip = readZip(readFileSync((JSON.parse(x.stdout) as { path: string }).path));
    const names = zip.map((m) => m.name).sort();
    assert.deepEqual(names, [`${e.uid}/_metadata.json`, `${e.uid}/${e.uid}`, `${e.uid}/preview/${e.uid}`].sort());
    const meta = JSON.parse(zip.find((m) => m.name.endsWith('_metadata.json'))!.data.toString()) as Record<
      string,
      string
    >;
    assert.equal(meta.title, e.title);
    assert.equal(meta.preview, undefined);
    assert.deepEqual(
      zip.find((m) => m.name === `${e.uid}/${e.uid}`)!.data,
      readFileSync(join(l.profile, 'datastore', rel, 'data')),
    );
    const none = l.summary.entries.find((y) => !y.hasData)!;
    const bad = await agent(['restore', '--profile', l.profile, '--entry', none.uid, '--xoj', '--to', out]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no data file/);
    cleanup(l.profile, out);
  });

  test('a layout-0 Journal backs up, is indexed, and one entry restores as a layout-6 folder', async () => {
    const l = await registered(srv.url, 'SHF7000506', { entries: 15, layout: 0 });
    await backupJson(l.profile);
    const rows = srv.ctx.store.db
      .prepare(
        "SELECT uid, title FROM entries WHERE account_id = (SELECT account_id FROM devices WHERE serial = 'SHF7000506')",
      )
      .all() as Array<{ uid: string; title: string }>;
    assert.equal(rows.length, l.summary.entries.length);
    const e = l.summary.entries.find((x) => x.hasData)!;
    assert.equal(rows.find((r) => r.uid === e.uid)!.title, e.title);
    const out = tmp('out');
    assert.equal((await agent(['restore', '--profile', l.profile, '--entry', e.uid, '--to', out])).code, 0);
    const dir = join(out, 'datastore', e.uid.slice(0, 2), e.uid);
    assert.equal(readFileSync(join(dir, 'metadata', 'title'), 'utf8'), e.title);
    assert.deepEqual(readFileSync(join(dir, 'data')), readFileSync(join(l.profile, 'datastore', 'store', e.uid)));
    cleanup(l.profile, out);
  });

  test('restoring into the live Journal keeps newer local files unless --force, and asks Sugar to reindex', async () => {
    const l = await registered(srv.url, 'SHF7000507', { entries: 10 });
    await backupJson(l.profile);
    const e = l.summary.entries.find((x) => x.hasData)!;
    const data = join(l.profile, 'datastore', e.uid.slice(0, 2), e.uid, 'data');
    const original = readFileSync(data);
    writeFileSync(data, 'edited after the backup');
    utimesSync(data, new Date(Date.now() + 3600_000), new Date(Date.now() + 3600_000));
    const gone = l.summary.entries.find((x) => x.uid !== e.uid)!;
    rmSync(join(l.profile, 'datastore', gone.uid.slice(0, 2), gone.uid), { recursive: true });
    assert.equal((await agent(['restore', '--profile', l.profile, '--all'])).code, 0);
    assert.equal(readFileSync(data, 'utf8'), 'edited after the backup');
    assert.ok(
      existsSync(join(l.profile, 'datastore', gone.uid.slice(0, 2), gone.uid, 'metadata')),
      'deleted entry is back',
    );
    assert.ok(!existsSync(join(l.profile, 'datastore', 'index_updated')), 'index rebuild requested');
    assert.equal((await agent(['restore', '--profile', l.profile, '--all', '--force'])).code, 0);
    assert.deepEqual(readFileSync(data), original);
    cleanup(l.profile);
  });

  test('reindex rebuilds the same catalog answers', async () => {
    const l = await registered(srv.url, 'SHF7000508', { entries: 20 });
    await backupJson(l.profile);
    mutateJournal(join(l.profile, 'datastore'), { seed: 'x', fraction: 0.2 });
    await backupJson(l.profile);
    const db = srv.ctx.store.db;
    const q = () => ({
      snaps: db
        .prepare('SELECT serial, source, name, seq, root, files, bytes FROM snapshots ORDER BY serial, name')
        .all(),
      entries: db
        .prepare(
          'SELECT a.key, e.uid, e.version, e.first_seq, e.last_seq, e.title, e.keep, e.data_blob FROM entries e JOIN accounts a ON a.id = e.account_id ORDER BY a.key, e.uid, e.first_seq',
        )
        .all(),
      blobs: (db.prepare('SELECT count(*) AS n FROM account_blobs').get() as { n: number }).n,
    });
    const before = q();
    const { reindex } = await import('../src/server/catalog/reindex.js');
    const r = await reindex(srv.ctx.store);
    assert.deepEqual(r.skipped, []);
    assert.deepEqual(q(), before);
    cleanup(l.profile);
  });
});
