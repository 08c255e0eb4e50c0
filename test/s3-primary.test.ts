/**
 * The same store as the primary (issue 12, district scale): a server whose
 * pool, trees and snapshot records live in a real S3 bucket (Swift with
 * s3api, test/helpers/s3.ts) — several laptops backed up, an incremental,
 * restores byte for byte (all and one entry), a web download, a cleanup that
 * removes a snapshot and whose GC deletes objects from the bucket, and a
 * reindex from the bucket after the catalog is deleted.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  agent,
  assertSameTree,
  backupJson,
  cleanup,
  JOURNAL_EXCLUDES,
  registered,
  serverCli,
  startServer,
  tmp,
  type TestServer,
} from './helpers/harness.js';
import { s3ForSuite } from './helpers/s3.js';
import { makeS3Client } from '../src/server/replica/s3.js';
import { mutateJournal } from '../src/journal/gen/generator.js';
import { WebClient } from './helpers/web-client.js';

const BUCKET = 'dsb-primary';
const STORE = `s3://${BUCKET}/school-1`;
let srv: TestServer;
const root = tmp('s3root');
const profiles: string[] = [];

const s3 = s3ForSuite(async (lab) => {
  Object.assign(process.env, lab.env); // the in-process server and the CLIs the tests run
  await makeS3Client().send(new CreateBucketCommand({ Bucket: BUCKET }));
  srv = await startServer({ root, store: STORE });
});
after(async () => {
  await srv?.close();
  srv?.ctx.store.close();
  cleanup(root, ...profiles);
});

/** Keys in the bucket under the school's prefix, by kind (pool, trees, users). */
async function bucketKeys(): Promise<{ pool: number; trees: number; users: string[] }> {
  const out = { pool: 0, trees: 0, users: [] as string[] };
  let token: string | undefined;
  do {
    const r = await makeS3Client().send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'school-1/', ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) {
      const k = o.Key!.slice('school-1/'.length);
      if (k.startsWith('pool/')) out.pool++;
      else if (k.startsWith('trees/')) out.trees++;
      else if (k.startsWith('users/')) out.users.push(k);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function restoreAll(profile: string, extra: string[] = []): Promise<string> {
  const out = tmp('s3out');
  const r = await agent(['restore', '--profile', profile, '--all', '--to', out, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

describe('--store s3://: pool, trees and snapshot records in a bucket', () => {
  let a: Awaited<ReturnType<typeof registered>>;
  let b: Awaited<ReturnType<typeof registered>>;

  test('laptops back up into the bucket; an incremental sends little; restores are byte for byte', async (t) => {
    if (s3.skip) return t.skip(s3.skip);
    a = await registered(srv.url, 'SHF7100001', { entries: 14, documents: true });
    b = await registered(srv.url, 'SHF7100002', { entries: 10 });
    profiles.push(a.profile, b.profile);
    const ra = await backupJson(a.profile);
    await backupJson(b.profile);
    assert.ok(ra.uploadedBlobs > 0);
    assert.ok(!existsSync(join(root, 'pool')) && !existsSync(join(root, 'trees')), 'no pool on the local disk');
    const keys = await bucketKeys();
    assert.ok(keys.pool > 0 && keys.trees > 0, 'pool and trees are in the bucket');
    assert.equal(keys.users.filter((k) => k.endsWith('/snapshot.json')).length, 3, 'three snapshot records');

    mutateJournal(join(a.profile, 'datastore'), { seed: 'day2', fraction: 0.2 });
    const inc = await backupJson(a.profile);
    assert.ok(inc.uploadedBlobs < ra.uploadedBlobs, `incremental sent ${inc.uploadedBlobs} of ${ra.uploadedBlobs}`);

    const outA = await restoreAll(a.profile);
    assertSameTree(join(a.profile, 'datastore'), join(outA, 'datastore'), JOURNAL_EXCLUDES);
    assertSameTree(join(a.profile, 'Documents'), join(outA, 'documents'));
    const outB = await restoreAll(b.profile);
    assertSameTree(join(b.profile, 'datastore'), join(outB, 'datastore'), JOURNAL_EXCLUDES);

    const e = b.summary.entries.find((x) => x.hasData && x.dataSize > 0)!;
    const one = tmp('s3one');
    const r = await agent(['restore', '--profile', b.profile, '--entry', e.uid, '--to', one]);
    assert.equal(r.code, 0, r.stderr);
    const rel = join(e.uid.slice(0, 2), e.uid);
    assertSameTree(join(b.profile, 'datastore', rel), join(one, 'datastore', rel));
    cleanup(outA, outB, one);
  });

  test('web: the data of an entry downloads from the bucket', async (t) => {
    if (s3.skip) return t.skip(s3.skip);
    const link = await agent(['restore', '--web', '--no-open', '--profile', b.profile]);
    assert.equal(link.code, 0, link.stderr);
    const c = new WebClient(srv.url);
    assert.equal((await c.get(new URL(link.stdout.trim()).pathname)).status, 303);
    const row = srv.ctx.store.db
      .prepare(
        `SELECT e.id, e.data_blob FROM entries e JOIN devices d ON d.account_id = e.account_id
         WHERE d.serial = ? AND e.data_blob NOT LIKE 'inline:%' AND e.data_blob NOT LIKE 'chunks:%' LIMIT 1`,
      )
      .get('SHF7100002') as { id: number; data_blob: string };
    const res = await c.get(`/ui/j/SHF7100002/v/${row.id}/data`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(createHash('sha256').update(body).digest('hex'), row.data_blob);
  });

  test('cleanup removes an old snapshot and its GC deletes objects from the bucket', async (t) => {
    if (s3.skip) return t.skip(s3.skip);
    mutateJournal(join(a.profile, 'datastore'), { seed: 'day3', fraction: 0.3 });
    await backupJson(a.profile);
    const before = await bucketKeys();
    // 400 days on: A's middle datastore snapshot is neither the first of its month nor the latest.
    const now = new Date(Date.now() + 400 * 86_400_000).toISOString();
    const r = await serverCli(['cleanup', '--root', root, '--force', '--full-gc', '--now', now, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { removed: unknown[]; gc: Array<{ blobs: number; trees: number }> };
    assert.ok(rep.removed.length >= 1, 'a snapshot was removed');
    const deleted = rep.gc.reduce((n, g) => n + g.blobs + g.trees, 0);
    assert.ok(deleted > 0, 'the GC deleted objects');
    const afterKeys = await bucketKeys();
    assert.equal(before.pool + before.trees - (afterKeys.pool + afterKeys.trees), deleted, 'gone from the bucket');
    assert.ok(afterKeys.users.length < before.users.length, 'the snapshot record is gone from the bucket');
    const out = await restoreAll(a.profile);
    assertSameTree(join(a.profile, 'datastore'), join(out, 'datastore'), JOURNAL_EXCLUDES);
    cleanup(out);
  });

  test('reindex rebuilds the deleted catalog from the bucket', async (t) => {
    if (s3.skip) return t.skip(s3.skip);
    const count = () => (srv.ctx.store.db.prepare('SELECT count(*) AS n FROM snapshots').get() as { n: number }).n;
    const snapshots = count();
    await srv.close();
    srv.ctx.store.close();
    for (const f of ['catalog.sqlite', 'catalog.sqlite-wal', 'catalog.sqlite-shm'])
      rmSync(join(root, f), { force: true });
    const r = await serverCli(['reindex', '--root', root, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { snapshots: number; skipped: string[] };
    assert.deepEqual(out.skipped, []);
    assert.equal(out.snapshots, snapshots);
    srv = await startServer({ root, store: STORE, port: Number(new URL(srv.url).port) }); // where the laptops look
    assert.equal(count(), snapshots);
    const restored = await restoreAll(b.profile);
    assertSameTree(join(b.profile, 'datastore'), join(restored, 'datastore'), JOURNAL_EXCLUDES);
    cleanup(restored);
  });
});
