/**
 * The off-site copy end to end against a real S3 (Swift + s3api, started by
 * scripts/s3/swift-s3.sh): laptops back up over several days (the real agent,
 * plus dated snapshots), one entry is pinned, `ds-backup-server replicate`
 * sends everything encrypted (the provider's disk holds no serial or title),
 * a second run sends nothing, a lost sent log is rebuilt from a listing; the
 * root is destroyed, `rebuild` brings it back, every snapshot restores byte
 * for byte, the pin is there, the next backup sends only new data and
 * students sign in with the same restore codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { generateJournal, mutateJournal } from '../src/journal/gen/generator.js';
import { TokenBucket } from '../src/server/admission/bandwidth.js';
import { attemptReplica } from '../src/server/replica/daily.js';
import { snapshotFolderKey } from '../src/server/store/object-store.js';
import { Store } from '../src/server/store/store.js';
import { buildServer } from '../src/server/http/app.js';
import { DEFAULTS } from '../src/server/config.js';
import { makeS3Client } from '../src/server/replica/s3.js';
import { contentIds, readReplicaStatus, replicate } from '../src/server/replica/replicate.js';
import {
  agent,
  backupJson,
  fsState,
  JOURNAL_EXCLUDES,
  registered,
  serverCli,
  startServer,
  tmp,
  type TestServer,
} from './helpers/harness.js';
import { device, simBackup, DAY } from './helpers/sim.js';
import { WebClient } from './helpers/web-client.js';
import { s3ForSuite } from './helpers/s3.js';

const REPLICA = 's3://school-replica/district/school-a';
const s3 = s3ForSuite(async (lab) => {
  for (const [k, v] of Object.entries(lab.env)) process.env[k] = v; // the in-process client reads them too
  await makeS3Client().send(new CreateBucketCommand({ Bucket: 'school-replica' }));
});

function same(a: Map<string, string>, b: Map<string, string>, what: string) {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${what}: same paths`);
  for (const [k, v] of a) assert.equal(b.get(k), v, `${what}: same ${k}`);
}

/** Every file Swift wrote, as one buffer per file (what the provider holds on disk). */
function providerFiles(dir: string, out: Buffer[] = []): Buffer[] {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) providerFiles(p, out);
    else if (d.isFile() && statSync(p).size < 32 << 20) out.push(readFileSync(p));
  }
  return out;
}

test('replicate, destroy the root, rebuild: every snapshot, pin and restore code comes back', async (t) => {
  if (s3.skip) return t.skip(s3.skip);
  const serials = ['SHR00000A01', 'SHR00000A02', 'SHR00000A03'];
  let srv: TestServer = await startServer();
  const port = Number(new URL(srv.url).port);
  const laptops: Array<Awaited<ReturnType<typeof registered>>> = [];
  // name of every snapshot → the Journal it must restore to
  const states = new Map<string, Map<string, Map<string, string>>>();
  for (const [i, sn] of serials.entries()) {
    const l = await registered(srv.url, sn, { entries: 12 + 4 * i, documents: false });
    const ds = join(l.profile, 'datastore');
    const mine = new Map<string, Map<string, string>>();
    if (i === 2) {
      // two earlier days, as snapshots dated then (the agent has no clock to set)
      const dev = srv.ctx.store.registry.bySerial(sn)!;
      for (const day of [3, 2]) {
        const info = await simBackup(srv.ctx.store, dev, ds, Date.now() - day * DAY);
        mine.set(info.name, fsState(ds, JOURNAL_EXCLUDES));
        mutateJournal(ds, { seed: `${sn}-${day}`, fraction: 0.3 });
      }
    }
    for (let day = 0; day < 3; day++) {
      const b = await backupJson(l.profile);
      mine.set(b.snapshots[0].name, fsState(ds, JOURNAL_EXCLUDES));
      if (day < 2) mutateJournal(ds, { seed: `${sn}-d${day}`, fraction: 0.25 });
    }
    states.set(sn, mine);
    laptops.push(l);
  }
  const firstEntry = readdirSync(join(laptops[0].profile, 'datastore'))
    .filter((d) => d.length === 2)
    .flatMap((d) => readdirSync(join(laptops[0].profile, 'datastore', d)))[0];
  const pin = await agent(['pin', '--profile', laptops[0].profile, '--entry', firstEntry, '--json']);
  assert.equal(pin.code, 0, pin.stderr);
  const codes = laptops.map(
    (l) =>
      (JSON.parse(readFileSync(join(l.profile, 'ds-backup', 'config.json'), 'utf8')) as { restoreCode: string })
        .restoreCode,
  );

  const admin = srv.ctx.store.admin.newToken(); // (admin.json changes: made before the first run)
  srv.ctx.store.admin.setPassword('correct horse battery');
  const dashboard = async (url: string, lang = 'en') => {
    const c = new WebClient(url, lang);
    const page = await c.text('/ui/admin/login');
    const r = await c.post('/ui/admin/login', { _csrf: WebClient.csrf(page), password: 'correct horse battery' });
    assert.equal(r.status, 303);
    return /<p id="replica"[^>]*>([\s\S]*?)<\/p>/.exec(await c.text('/ui/admin'))?.[1].replace(/\s+/g, ' ') ?? '';
  };
  // First replication: everything, encrypted.
  const r1 = await serverCli(
    ['replicate', '--now', '--bandwidth', '0', '--root', srv.root, '--replica', REPLICA, '--json'],
    s3.env,
  );
  assert.equal(r1.code, 0, r1.stderr);
  const first = JSON.parse(r1.stdout) as { objects: number; records: number; bytes: number; keyCreated: boolean };
  assert.ok(first.keyCreated && first.objects > 50 && first.records >= 3 * 5, r1.stdout);
  assert.equal(statSync(join(srv.root, 'replica-key')).mode & 0o777, 0o600);
  t.diagnostic(`first replication: ${r1.stdout.replace(/\s+/g, ' ')}`);
  const sheet = await serverCli(['replica', 'key', '--root', srv.root, '--replica', REPLICA]);
  const key = /key: +([0-9a-f]{64})/.exec(sheet.stdout)![1];
  assert.equal(key, readFileSync(join(srv.root, 'replica-key'), 'utf8').trim());

  // Status: no lag right after a run; verify --replica reads it all back, and finds a damaged object.
  const st = (await (
    await fetch(`${srv.url}/api/v1/status`, { headers: { authorization: `Bearer ${admin}` } })
  ).json()) as { replica: { lagSec: number; lastSuccessAt: string; pendingSnapshots: number } };
  assert.equal(st.replica.pendingSnapshots, 0);
  assert.equal(st.replica.lagSec, 0);
  assert.ok(st.replica.lastSuccessAt);
  assert.match(
    await dashboard(srv.url),
    /Every backup is in the off-site copy \(s3:\/\/school-replica\/district\/school-a\)\. Last copy: Today/,
  );
  assert.match(await dashboard(srv.url, 'pt'), /Todas as cópias estão na cópia externa/);
  const v = await serverCli(['verify', '--root', srv.root, '--replica', REPLICA, '--json'], s3.env);
  assert.equal(v.code, 0, v.stderr);
  assert.equal((JSON.parse(v.stdout) as { checked: number }).checked, first.objects + first.records);
  const client = makeS3Client();
  const victim = (await client.send(new ListObjectsV2Command({ Bucket: 'school-replica', Prefix: 'objects/' })))
    .Contents![0].Key!;
  const orig = Buffer.from(
    await (
      await client.send(new GetObjectCommand({ Bucket: 'school-replica', Key: victim }))
    ).Body!.transformToByteArray(),
  );
  const flipped = Buffer.from(orig);
  flipped[flipped.length - 1] ^= 1;
  await client.send(new PutObjectCommand({ Bucket: 'school-replica', Key: victim, Body: flipped }));
  const bad = await serverCli(['verify', '--root', srv.root, '--replica', REPLICA, '--json'], s3.env);
  assert.equal(bad.code, 1);
  assert.equal((JSON.parse(bad.stdout) as { damaged: unknown[] }).damaged.length, 1);
  await client.send(new PutObjectCommand({ Bucket: 'school-replica', Key: victim, Body: orig }));

  // District dedupe: a second school with the same key and bucket, one laptop holding A01's first Journal.
  const schoolB = await startServer();
  try {
    const lb = await registered(schoolB.url, 'SHR00000B01', { seed: serials[0], entries: 12, documents: false });
    await backupJson(lb.profile);
    const rB = await serverCli(
      [
        'replicate',
        '--now',
        '--bandwidth',
        '0',
        '--root',
        schoolB.root,
        '--replica',
        REPLICA.replace('school-a', 'school-b'),
        '--json',
      ],
      {
        ...s3.env,
        DSB_REPLICA_KEY: key,
      },
    );
    assert.equal(rB.code, 0, rB.stderr);
    const second = JSON.parse(rB.stdout) as { objects: number; listed: boolean; bytes: number };
    const total = contentIds(schoolB.root).length;
    t.diagnostic(`school B: ${second.objects} of ${total} content objects sent, ${second.bytes} bytes`);
    assert.ok(second.listed && second.objects < total / 2, 'the district already held most of school B');
    rmSync(lb.profile, { recursive: true, force: true });
  } finally {
    await schoolB.close();
    rmSync(schoolB.root, { recursive: true, force: true });
  }

  // Nothing readable by the provider: no serial, no Journal title, no pool id on its disk.
  const disk = providerFiles(join(s3.lab, 'srv'));
  const someId = readdirSync(
    join(
      srv.root,
      'pool',
      readdirSync(join(srv.root, 'pool')).find((d) => d.length === 2)!,
    ),
  )[0];
  for (const needle of [...serials, firstEntry, someId ?? 'x'.repeat(64)])
    assert.ok(!disk.some((b) => b.includes(needle)), `the provider's disk does not hold ${needle}`);

  // Incremental: nothing new → nothing sent; a lost sent log is rebuilt from a listing, still nothing sent.
  const r2 = JSON.parse(
    (
      await serverCli(
        ['replicate', '--now', '--bandwidth', '0', '--root', srv.root, '--replica', REPLICA, '--json'],
        s3.env,
      )
    ).stdout,
  );
  assert.deepEqual([r2.objects, r2.records], [0, 0]);
  rmSync(join(srv.root, 'replica'), { recursive: true });
  const r3 = JSON.parse(
    (
      await serverCli(
        ['replicate', '--now', '--bandwidth', '0', '--root', srv.root, '--replica', REPLICA, '--json'],
        s3.env,
      )
    ).stdout,
  );
  assert.equal(r3.listed, true);
  assert.equal(r3.objects, 0, 'content objects found by the listing are not sent again');
  assert.ok(r3.records < first.records, 'snapshot records found by the listing are not sent again');

  // The disk dies.
  await srv.close();
  rmSync(srv.root, { recursive: true, force: true });
  const wrong = await serverCli(['rebuild', '--root', tmp('rb'), '--replica', REPLICA], {
    ...s3.env,
    DSB_REPLICA_KEY: '0'.repeat(64),
  });
  assert.equal(wrong.code, 1, 'a wrong key reads nothing');
  assert.match(wrong.stderr, /authentication/);
  const newRoot = join(tmp('rb'), 'library');
  const rb = await serverCli(['rebuild', '--root', newRoot, '--replica', REPLICA, '--json'], {
    ...s3.env,
    DSB_REPLICA_KEY: key,
  });
  assert.equal(rb.code, 0, rb.stderr);
  const rebuilt = JSON.parse(rb.stdout) as { devices: number; snapshots: number };
  assert.equal(rebuilt.devices, 3);
  assert.equal(
    rebuilt.snapshots,
    [...states.values()].reduce((n, m) => n + m.size, 0),
  );

  // The new server, where the laptops expect it.
  const built = buildServer(
    { ...DEFAULTS, loadLimit: 1000, root: newRoot, host: '127.0.0.1', port },
    { logger: false },
  );
  await built.app.listen({ port, host: '127.0.0.1' });
  srv = { ...built, url: `http://127.0.0.1:${port}`, root: newRoot, close: () => built.app.close() };
  try {
    for (const [i, sn] of serials.entries()) {
      for (const [name, want] of states.get(sn)!) {
        const out = tmp('out');
        const r = await agent(['restore', '--profile', laptops[i].profile, '--all', '--snapshot', name, '--to', out]);
        assert.equal(r.code, 0, r.stderr);
        same(want, fsState(join(out, 'datastore')), `${sn} ${name}`);
        rmSync(out, { recursive: true, force: true });
      }
    }
    const pins = JSON.parse((await agent(['pins', '--profile', laptops[0].profile, '--json'])).stdout) as {
      pins: Array<{ uid: string }>;
    };
    assert.ok(
      pins.pins.some((p) => p.uid === firstEntry),
      'the pin came back',
    );
    // Next backups: the server has everything the replica brought back.
    const again = await backupJson(laptops[1].profile);
    assert.equal(again.uploadedBlobs, 0, 'an unchanged laptop sends no data after the rebuild');
    mutateJournal(join(laptops[0].profile, 'datastore'), { seed: 'after', fraction: 0.1 });
    const changed = await backupJson(laptops[0].profile);
    assert.ok(changed.uploadedBlobs > 0 && changed.uploadedBytes < changed.bytes / 2, 'only new data is sent');
    // The rebuilt server replicates on: its first run lists, then a 1 % change sends only that.
    const env = { ...s3.env, DSB_REPLICA_KEY: key };
    const after1 = await serverCli(
      ['replicate', '--now', '--bandwidth', '0', '--root', newRoot, '--replica', REPLICA, '--json'],
      env,
    );
    assert.equal(after1.code, 0, after1.stderr);
    mutateJournal(join(laptops[2].profile, 'datastore'), { seed: 'one-percent', fraction: 0.01 });
    const small = await backupJson(laptops[2].profile);
    // The lag: the new snapshot waits for the next run, on the dashboard and in the status.
    const lagging = (await (
      await fetch(`${srv.url}/api/v1/status`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as { replica: { pendingSnapshots: number; lagSec: number } };
    assert.ok(lagging.replica.pendingSnapshots >= 1 && lagging.replica.lagSec >= 0);
    assert.match(await dashboard(srv.url), /\d+ backups are not yet in the off-site copy .* the oldest was made/);
    const inc = await serverCli(
      ['replicate', '--now', '--bandwidth', '0', '--root', newRoot, '--replica', REPLICA, '--json'],
      env,
    );
    const daily = JSON.parse(inc.stdout) as { objects: number; listed: boolean; requests: number };
    t.diagnostic(`1 % change (${small.uploadedBlobs} blobs backed up): ${inc.stdout.replace(/\s+/g, ' ')}`);
    assert.equal(daily.listed, false);
    assert.ok(daily.objects <= small.uploadedBlobs + 20, 'only the new blobs and their trees go up');
    for (const [i, sn] of serials.entries()) {
      const c = new WebClient(srv.url);
      const csrf = WebClient.csrf(await c.text('/ui/login'));
      const ok = await c.post('/ui/login', { _csrf: csrf, serial: sn, pin: codes[i] });
      assert.equal(ok.status, 303, `${sn} signs in with the same restore code`);
    }
  } finally {
    await srv.close();
    rmSync(newRoot, { recursive: true, force: true });
  }
});

/** Names under a prefix of the test bucket. */
async function listKeys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await makeS3Client().send(
      new ListObjectsV2Command({ Bucket: 'school-replica', Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) out.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

test('deletions wait for the grace; the night window; the cap paces the uploads; the window end stops a run cleanly', async (t) => {
  if (s3.skip) return t.skip(s3.skip);
  const GRACE = 's3://school-replica/district/school-g';
  const root = tmp('grace');
  const store = new Store(root);
  const ds = join(tmp('journal'), 'datastore');
  generateJournal(ds, { seed: 'grace', entries: 30 });
  const dev = device(store, 'SHR00000G01');
  const T0 = Date.parse('2027-03-01T12:00:00Z');
  const old = await simBackup(store, dev, ds, T0 - 3 * DAY);
  mutateJournal(ds, { seed: 'grace-1', fraction: 0.3 });
  await simBackup(store, dev, ds, T0 - 2 * DAY);
  store.close();
  const env = { ...s3.env, TZ: 'UTC' };
  const run = async (...args: string[]) => {
    const r = await serverCli(['replicate', '--root', root, '--replica', GRACE, '--json', ...args], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown> & { objects: number; records: number; deleted: number };
  };

  // Outside the night window (22:00-06:00, local time): nothing happens, exit 0, a clear reason.
  const out = await run('--at', '2027-03-01T14:00:00Z');
  assert.match(String(out.skipped), /outside the replication window 22:00-06:00 .*opens at 22:00/);
  assert.equal(existsSync(join(root, 'replica-key')), false, 'a skipped run touches nothing');

  // The window end: a run whose clock passes 06:00 stops starting uploads, sends no snapshot
  // record (the replica stays consistent), and the next run resumes without resending.
  let now = Date.parse('2027-03-02T05:50:00Z');
  const stopped = await replicate({
    root,
    replica: GRACE,
    concurrency: 2,
    deadline: Date.parse('2027-03-02T06:00:00Z'),
    clock: () => (now += 30_000),
  });
  const total = contentIds(root).length;
  assert.match(String(stopped.stopped), /window closed/);
  assert.ok(stopped.objects > 0 && stopped.objects < total, `${stopped.objects} of ${total} objects before 06:00`);
  assert.equal(stopped.records, 0, 'no record goes up in a stopped run');
  assert.equal((await listKeys('district/school-g/records/')).length, 0);
  assert.ok(readReplicaStatus(root)?.lastStoppedAt && !readReplicaStatus(root)?.lastSuccessAt);

  // The cap: every byte sent passes the token bucket; its (simulated) clock shows the pace.
  let fake = 0;
  const slept: number[] = [];
  const pace = new TokenBucket(
    256 * 1024,
    64 * 1024,
    () => fake,
    async (ms) => {
      slept.push(ms);
      fake += ms;
    },
  );
  const rest = await replicate({ root, replica: GRACE, pace, clock: () => T0 });
  assert.equal(rest.stopped, null);
  assert.equal(stopped.objects + rest.objects, total, 'the resumed run sends only what the stopped one had not');
  assert.ok(rest.records >= 3);
  assert.equal(pace.bytes, rest.bytes, 'every byte sent went through the bucket');
  assert.ok(
    fake >= ((rest.bytes - 64 * 1024) / (256 * 1024)) * 1000 - 1,
    `${rest.bytes} bytes at 256 KiB/s took ${fake} simulated ms`,
  );
  t.diagnostic(`capped run: ${rest.bytes} bytes, ${slept.length} waits, ${fake.toFixed(0)} simulated ms`);

  // A snapshot removed locally stays off-site for the grace (30 days), then its record goes;
  // content objects stay (they may be shared with the district's other schools).
  const s2 = new Store(root);
  assert.ok(await s2.objects.deleteFolder(snapshotFolderKey(dev.serial, old.name)));
  s2.close();
  const recordsBefore = (await listKeys('district/school-g/records/')).length;
  const contentBefore = (await listKeys('objects/')).length;
  const day1 = await run('--now', '--at', '2027-03-02T12:00:00Z');
  assert.deepEqual([day1.deleted, day1.graceHeld], [0, 1]);
  const day29 = await run('--now', '--at', '2027-03-31T11:00:00Z');
  assert.deepEqual([day29.deleted, day29.graceHeld], [0, 1], 'still within the grace');
  assert.equal((await listKeys('district/school-g/records/')).length, recordsBefore);
  const day31 = await run('--now', '--at', '2027-04-02T12:00:00Z');
  assert.deepEqual([day31.deleted, day31.graceHeld], [1, 0]);
  assert.equal((await listKeys('district/school-g/records/')).length, recordsBefore - 1);
  assert.equal((await listKeys('objects/')).length, contentBefore, 'content objects are never deleted');
  const again = await run('--now', '--at', '2027-04-03T12:00:00Z');
  assert.deepEqual([again.objects, again.records, again.deleted, again.graceHeld], [0, 0, 0, 0]);

  // The daily job's step (inside serve): once per opening of the night window, local time.
  const cfg = { ...DEFAULTS, root, replica: GRACE, replicaBandwidth: '0' };
  const at = (d: number, h: number) => () => new Date(2027, 3, d, h, 0).getTime();
  const noon = await attemptReplica(cfg, at(4, 14));
  assert.equal(noon.ran, false);
  assert.match(noon.ran ? '' : noon.reason, /outside the replication window/);
  const night = await attemptReplica(cfg, at(4, 23));
  assert.ok(night.ran && night.result.stopped === null && night.result.objects === 0);
  const later = await attemptReplica(cfg, at(5, 2));
  assert.match(later.ran ? '' : later.reason, /already replicated in this window/);
  assert.equal((await attemptReplica(cfg, at(5, 23))).ran, true, 'the next night runs again');
  assert.equal((await attemptReplica({ ...cfg, replica: '' }, at(6, 23))).ran, false);
  rmSync(root, { recursive: true, force: true });
});
