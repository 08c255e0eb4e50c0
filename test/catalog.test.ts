/**
 * The catalog owns its SQL and is rebuildable:
 *  - a catalog written by d856adf (test/fixtures/catalog-v0, user_version 0)
 *    opens, migrates (restore codes and replacement approvals move to their
 *    files) and answers what was in it; the student and the admin sign in as
 *    before; a catalog newer than the code is refused;
 *  - after a backup, pins, an admin password and a restore code, deleting
 *    catalog.sqlite and running `ds-backup-server reindex` loses nothing the
 *    student or admin relies on: same restore code, same password, pending
 *    approval, and every pin still protects what it pins through a cleanup;
 *  - the restore code under its new and old API, form, CLI and config names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { mutateJournal } from '../src/journal/gen/generator.js';
import { monthOf } from '../src/server/retention/retention.js';
import { Store } from '../src/server/store/store.js';
import { SCHEMA_VERSION } from '../src/server/catalog/schema.js';
import { latestReports } from '../src/server/retention/cleanup-job.js';
import { Pins } from '../src/server/retention/pins.js';
import { agent, backupJson, cleanup, REPO, registered, serverCli, startServer, tmp, token } from './helpers/harness.js';
import { WebClient } from './helpers/web-client.js';

const FIXTURE = join(REPO, 'test', 'fixtures', 'catalog-v0');
const facts = JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'catalog-v0.json'), 'utf8')) as {
  serial: string;
  restoreCode: string;
  snapshot: string;
  snapshotPin: string;
  entryPin: string;
  entryUid: string;
  adminPassword: string;
  approval: { newSerial: string; oldSerial: string };
};

async function studentSignIn(url: string, serial: string, form: Record<string, string>): Promise<number> {
  const c = new WebClient(url);
  const csrf = WebClient.csrf(await c.text('/ui/login'));
  return (await c.post('/ui/login', { _csrf: csrf, serial, ...form })).status;
}

async function adminSignIn(url: string, password: string): Promise<number> {
  const c = new WebClient(url);
  const csrf = WebClient.csrf(await c.text('/ui/admin/login'));
  return (await c.post('/ui/admin/login', { _csrf: csrf, password })).status;
}

test('a catalog written before numbered migrations opens, migrates and reads', async () => {
  const root = tmp('v0');
  cpSync(FIXTURE, root, { recursive: true, verbatimSymlinks: true });
  const raw = new Database(join(root, 'catalog.sqlite'));
  assert.equal(raw.pragma('user_version', { simple: true }), 0, 'the fixture predates migrations');
  raw.close();

  const store = new Store(root);
  assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  assert.ok(!tables.includes('restore_pins') && !tables.includes('replacement_approvals'), 'secrets left the catalog');
  // What was in it.
  const dev = store.registry.bySerial(facts.serial)!;
  assert.ok(dev, 'the laptop');
  assert.equal(store.restoreCodes.get(facts.serial), facts.restoreCode, 'the restore code, now in its file');
  assert.ok(existsSync(join(root, 'users', facts.serial, 'restore-code.json')));
  assert.deepEqual(
    store.replacements.list().map((a) => [a.newSerial, a.oldSerial]),
    [[facts.approval.newSerial, facts.approval.oldSerial]],
    'the pending approval, now in accounts/replacements.json',
  );
  assert.ok(store.admin.checkPassword(facts.adminPassword));
  const pins = new Pins(store).list(dev.account_id);
  assert.ok(pins.some((p) => p.id === facts.snapshotPin && p.snapshot === facts.snapshot));
  assert.ok(pins.some((p) => p.id === facts.entryPin && p.uid === facts.entryUid));
  assert.equal(store.db.prepare('SELECT count(*) FROM snapshots').pluck().get(), 1);
  assert.equal(store.db.prepare('SELECT count(*) FROM entries').pluck().get(), 4);
  assert.equal(store.db.prepare('SELECT count(*) FROM web_sessions').pluck().get(), 1, 'sessions kept');
  assert.equal(latestReports(store).length, 1, 'the cleanup report');
  store.close();

  // Opening again is a no-op; the server answers as before.
  const srv = await startServer({ root });
  try {
    assert.equal(await studentSignIn(srv.url, facts.serial, { restoreCode: facts.restoreCode }), 303);
    assert.equal(await adminSignIn(srv.url, facts.adminPassword), 303);
    const r = await serverCli(['verify', '--root', root]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  } finally {
    await srv.close();
  }

  // A catalog from a newer ds-backup-server is refused, not misread.
  const newer = new Database(join(root, 'catalog.sqlite'));
  newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  newer.close();
  assert.throws(() => new Store(root), /newer than this ds-backup-server reads/);
  cleanup(root);
});

test('delete catalog.sqlite, reindex: same restore code, same admin password, every pin still protects', async () => {
  const root = tmp('rebuild');
  let srv = await startServer({ root });
  const SN = 'SHF00REBLD1';
  const l = await registered(srv.url, SN, { entries: 12 });
  const ds = join(l.profile, 'datastore');
  const b1 = await backupJson(l.profile);
  mutateJournal(ds, { seed: 'rb-1', fraction: 0.3 });
  const b2 = await backupJson(l.profile);
  const entryUid = mutateJournal(ds, { seed: 'rb-2', fraction: 0.3 }).changed[0];
  await backupJson(l.profile);
  const [n1, n2] = [b1.snapshots[0].name, b2.snapshots[0].name];

  // Without a pin the cleanup would thin the middle snapshot (when all three are in one month).
  const later = new Date(Date.now() + 200 * 86_400_000).toISOString();
  const sameMonth = monthOf(Date.parse(n1.slice(10, 20))) === monthOf(Date.parse(n2.slice(10, 20)));
  const dry = await serverCli(['cleanup', '--root', root, '--dry-run', '--now', later, '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  if (sameMonth)
    assert.ok((JSON.parse(dry.stdout) as { removed: Array<{ name: string }> }).removed.some((r) => r.name === n2));

  assert.equal((await agent(['pin', '--profile', l.profile, '--snapshot', n2])).code, 0);
  const ep = await agent(['pin', '--profile', l.profile, '--entry', entryUid, '--json']);
  assert.equal(ep.code, 0, ep.stderr);
  const entryVersion = (JSON.parse(ep.stdout) as { version: string }).version;
  const auth = { headers: { authorization: `Bearer ${token(l.profile)}` } };
  const code = ((await (await fetch(`${srv.url}/api/v1/restore-code`, auth)).json()) as { restoreCode: string })
    .restoreCode;
  assert.match(code, /^\d{6}$/);
  const old = (await (await fetch(`${srv.url}/api/v1/pin`, auth)).json()) as { pin: string };
  assert.equal(old.pin, code, 'GET /api/v1/pin still answers for agents installed before the rename');
  srv.ctx.store.admin.setPassword('rebuild password 1');
  srv.ctx.store.replacements.approve('SHF00REBLD2', SN);
  const pinsBefore = JSON.parse((await agent(['pins', '--profile', l.profile, '--json'])).stdout) as unknown;
  await srv.close();

  for (const f of ['catalog.sqlite', 'catalog.sqlite-wal', 'catalog.sqlite-shm'])
    rmSync(join(root, f), { force: true });
  const re = await serverCli(['reindex', '--root', root, '--json']);
  assert.equal(re.code, 0, re.stderr);
  assert.equal((JSON.parse(re.stdout) as { snapshots: number }).snapshots, 3);

  srv = await startServer({ root });
  // The server came back on another port: point the laptop at it.
  const cfgFile = join(l.profile, 'ds-backup', 'config.json');
  writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(readFileSync(cfgFile, 'utf8')), server: srv.url }));
  try {
    assert.equal(await studentSignIn(srv.url, SN, { restoreCode: code }), 303, 'same restore code');
    assert.equal(await studentSignIn(srv.url, SN, { pin: code }), 303, "the form's old field name");
    assert.equal(await adminSignIn(srv.url, 'rebuild password 1'), 303, 'same admin password');
    assert.deepEqual(JSON.parse((await agent(['pins', '--profile', l.profile, '--json'])).stdout), pinsBefore);
    // The student deletes the pinned entry; the cleanup months later keeps what the pins pin.
    rmSync(join(ds, entryUid.slice(0, 2), entryUid), { recursive: true });
    await backupJson(l.profile);
    const run = await serverCli(['cleanup', '--root', root, '--force', '--now', later, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { removed: Array<{ name: string }> };
    assert.ok(!report.removed.some((r) => r.name === n2), 'the pinned snapshot survives');
    assert.ok(existsSync(join(root, 'users', SN, n2, 'snapshot.json')));
    const out = tmp('rb-out');
    const r = await agent(['restore', '--profile', l.profile, '--all', '--snapshot', n2, '--to', join(out, 's')]);
    assert.equal(r.code, 0, r.stderr);
    const e = await agent([
      'restore',
      '--profile',
      l.profile,
      '--entry',
      entryUid,
      '--version',
      entryVersion.slice(0, 12),
      '--to',
      join(out, 'e'),
    ]);
    assert.equal(e.code, 0, e.stderr);
    // The pending approval survived too: the new laptop registers into the old account without a code;
    // and the old laptop's restore code still lets another new laptop join (the flag's new name).
    const replacing = (serial: string, profile: string, extra: string[] = []) =>
      agent(['register', '--server', srv.url, '--serial', serial, '--replaces', SN, ...extra, '--profile', profile]);
    const fresh = tmp('rb-new');
    const reg = await replacing('SHF00REBLD2', fresh);
    assert.equal(reg.code, 0, reg.stderr);
    const third = tmp('rb-third');
    const withCode = await replacing('SHF00REBLD3', third, ['--old-restore-code', code]);
    assert.equal(withCode.code, 0, withCode.stderr);
    const st = JSON.parse((await agent(['status', '--profile', third, '--json'])).stdout) as { restoreCode: string };
    assert.match(st.restoreCode, /^\d{6}$/, 'register saved the new laptop its own restore code');
    cleanup(out, fresh, third);
  } finally {
    await srv.close();
    cleanup(root, l.profile);
  }
});

test("an agent config written before the rename (field 'pin') still shows its restore code", async () => {
  const profile = tmp('oldcfg');
  mkdirSync(join(profile, 'ds-backup'), { recursive: true });
  const old = {
    server: 'http://127.0.0.1:9',
    serial: 'SHF00OLDCFG',
    nickname: '',
    token: 'SHF00OLDCFG.x',
    pin: '042042',
  };
  writeFileSync(join(profile, 'ds-backup', 'config.json'), JSON.stringify(old));
  const st = await agent(['status', '--profile', profile, '--json']);
  assert.equal(st.code, 0, st.stderr);
  assert.equal((JSON.parse(st.stdout) as { restoreCode: string }).restoreCode, '042042');
  cleanup(profile);
});
