/**
 * Issue #16 §8 and §9: a serial differing only in case is the same laptop on
 * every path (native API, XML-RPC, the legacy availability URL, web forms and
 * pages, CLI, import-legacy); an older store's users/<sn> folders are moved
 * to the canonical form at start, and folders colliding by case are reported,
 * never merged. import-legacy run twice creates nothing new, for every folder
 * name it accepts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalSerial } from '../src/protocol/names.js';
import { planFolders } from '../src/server/store/serial-folders.js';
import { generateJournal } from '../src/journal/gen/generator.js';
import {
  agent,
  backupJson,
  cleanup,
  registered,
  serverCli,
  startServer,
  tmp,
  token,
  type TestServer,
} from './helpers/harness.js';
import { WebClient } from './helpers/web-client.js';

function ed25519Blob(): string {
  const t = Buffer.from('ssh-ed25519');
  const k = randomBytes(32);
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([len(t.length), t, len(k.length), k]).toString('base64');
}

test('canonicalSerial: trimmed, upper-case, ASCII letters and digits only', () => {
  assert.equal(canonicalSerial(' shc123 '), 'SHC123');
  assert.equal(canonicalSerial('SHC123'), 'SHC123');
  assert.equal(canonicalSerial('straße1'), null, "'ß' would upper-case to 'SS'");
  assert.equal(canonicalSerial('ab'), null);
  assert.equal(canonicalSerial('a'.repeat(33)), null);
  assert.equal(canonicalSerial('SHC 123'), null);
  assert.equal(canonicalSerial(42), null);
});

describe('shc123 and SHC123 are one laptop on every path', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv.close();
    cleanup(srv.root);
  });

  const register = (serial: string, tok?: string) =>
    fetch(`${srv.url}/api/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
      body: JSON.stringify({ serial }),
    });

  test('native API: registration stores the canonical serial; the other case is the same laptop', async () => {
    const r = await register('shc123');
    assert.equal(r.status, 201);
    const body = (await r.json()) as { serial: string; token: string };
    assert.equal(body.serial, 'SHC123');
    assert.match(body.token, /^SHC123\./);
    assert.ok(existsSync(join(srv.root, 'users', 'SHC123', 'device.json')));
    assert.ok(!readdirSync(join(srv.root, 'users')).includes('shc123'));
    assert.equal((await register('SHC123')).status, 409, 'already registered: the same laptop');
    const again = await register(' Shc123 ', body.token);
    assert.equal(again.status, 200, 're-registration with its token, in another case');
    const tok = ((await again.json()) as { token: string }).token;
    const snaps = await fetch(`${srv.url}/api/v1/snapshots`, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(((await snaps.json()) as { serial: string }).serial, 'SHC123');
  });

  test('web: sign-in with shc123, pages under /ui/j/shc123, the admin page of shc123', async () => {
    const code = srv.ctx.store.restoreCodes.get('SHC123');
    const c = new WebClient(srv.url);
    const csrf = WebClient.csrf(await c.text('/ui/login'));
    const res = await c.post('/ui/login', { _csrf: csrf, serial: 'shc123', restoreCode: code });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/ui/j/SHC123');
    assert.equal((await c.get('/ui/j/shc123')).status, 200);
    srv.ctx.store.admin.setPassword('admin-password-1');
    const a = new WebClient(srv.url);
    const ac = WebClient.csrf(await a.text('/ui/admin/login'));
    assert.equal((await a.post('/ui/admin/login', { _csrf: ac, password: 'admin-password-1' })).status, 303);
    const page = await a.get('/ui/admin/laptops/shc123');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /SHC123/);
  });

  test('XML-RPC registration and the legacy availability URL', async () => {
    const key = ed25519Blob();
    const call = async (sn: string) => {
      const p = (v: string) => `<param><value><string>${v}</string></value></param>`;
      const body = `<?xml version="1.0"?><methodCall><methodName>register</methodName><params>${p(sn)}${p('Ana')}${p('uuid-1')}${p(key)}</params></methodCall>`;
      const res = await fetch(`${srv.url}/`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
      return res.text();
    };
    const first = await call('shl777');
    assert.match(first, /SHL777@/, 'backupurl names the canonical serial');
    assert.match(await call('SHL777'), /OK/, 'the same key again: the same laptop');
    assert.ok(!readdirSync(join(srv.root, 'users')).includes('shl777'));
    const available = (sn: string) => fetch(`${srv.url}/backup/1/available/${sn}`).then((r) => r.status);
    assert.equal(await available('shl777'), 200);
    assert.equal(await available('SHL777'), 200, 'its own slot confirmed, not a second one');
    assert.equal(srv.ctx.admission.active().filter((l) => l.serial === 'SHL777').length, 1);
  });

  test('CLI: device token shc123', async () => {
    const r = await serverCli(['device', 'token', 'shc123', '--root', srv.root, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { serial, token: tok } = JSON.parse(r.stdout) as { serial: string; token: string };
    assert.equal(serial, 'SHC123');
    const res = await fetch(`${srv.url}/api/v1/snapshots`, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(res.status, 200);
  });
});

describe('an older store with non-canonical folders', () => {
  test('planFolders: renames what is alone, reports what collides', () => {
    assert.deepEqual(planFolders(['shc1', 'ABC1', 'abc1', 'XYZ9', 'lost+found']), {
      renames: [{ from: 'shc1', to: 'SHC1' }],
      collisions: [['ABC1', 'abc1']],
    });
  });

  test('users/shm… is moved to users/SHM… at start and its backups stay; a case collision is left alone', async () => {
    const SN = 'SHM0000001';
    let srv = await startServer();
    const root = srv.root;
    const l = await registered(srv.url, SN);
    const b = await backupJson(l.profile);
    await srv.close();
    // What a store written before canonical serials looks like.
    const users = join(root, 'users');
    renameSync(join(users, SN), join(users, SN.toLowerCase()));
    const dir = join(users, SN.toLowerCase());
    const lower = (f: string) => {
      const o = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
      writeFileSync(f, JSON.stringify({ ...o, serial: SN.toLowerCase(), account: SN.toLowerCase() }));
    };
    lower(join(dir, 'device.json'));
    for (const s of b.snapshots) lower(join(dir, s.name, 'snapshot.json'));
    for (const sn of ['ABC0000001', 'abc0000001']) {
      mkdirSync(join(users, sn));
      writeFileSync(
        join(users, sn, 'device.json'),
        JSON.stringify({ serial: sn, nickname: '', account: sn, tokenHash: null, createdAt: 1, disabled: false }),
      );
    }

    srv = await startServer({ root });
    try {
      const names = readdirSync(users).sort();
      assert.ok(names.includes(SN) && !names.includes(SN.toLowerCase()), names.join(' '));
      assert.ok(names.includes('ABC0000001') && names.includes('abc0000001'), 'the collision is not merged');
      const dev = JSON.parse(readFileSync(join(users, SN, 'device.json'), 'utf8')) as {
        serial: string;
        account: string;
      };
      assert.deepEqual([dev.serial, dev.account], [SN, SN]);
      // The laptop's own token (issued as SHM….) still works; its backups are listed and restore.
      const cfg = join(l.profile, 'ds-backup', 'config.json');
      writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), server: srv.url }));
      const list = await agent(['list', '--profile', l.profile, '--json']);
      assert.equal(list.code, 0, list.stderr);
      const names2 = (JSON.parse(list.stdout) as { snapshots: Array<{ name: string }> }).snapshots.map((s) => s.name);
      assert.deepEqual(names2.sort(), b.snapshots.map((s) => s.name).sort());
      assert.ok(token(l.profile).startsWith(SN));
      const r = await serverCli(['reindex', '--root', root]);
      assert.match(r.stdout, /differing only by case, left alone: users\/ABC0000001 users\/abc0000001/);
    } finally {
      await srv.close();
      cleanup(root, l.profile);
    }
  });
});

describe('import-legacy', () => {
  test('twice: nothing new, for every accepted folder name; case collisions reported, not merged', async () => {
    const old = tmp('old-users');
    const a = join(old, 'shi0000001'); // a lower-case folder: laptop SHI0000001
    generateJournal(join(a, 'datastore-2009-03-01_10:00:00'), { seed: 'i1', entries: 3 });
    generateJournal(join(a, 'datastore-2009-03-01_10:00'), { seed: 'i1', entries: 3 }); // the same minute
    generateJournal(join(a, 'datastore-2009-03-02_11:30:45'), { seed: 'i2', entries: 3 });
    generateJournal(join(a, 'datastore-2009-03-02_11:30'), { seed: 'i3', entries: 3 });
    generateJournal(join(a, 'datastore-2009-02-30_10:00'), { seed: 'i4', entries: 1 }); // no such day
    for (const sn of ['ABD0000001', 'abd0000001'])
      generateJournal(join(old, sn, 'datastore-2009-03-01_10:00'), { seed: sn, entries: 1 });
    const root = tmp('imp-root');
    try {
      const run = async () => {
        const r = await serverCli(['import-legacy', old, '--root', root, '--json']);
        return {
          code: r.code,
          j: JSON.parse(r.stdout) as {
            imported: number;
            skipped: number;
            devicesCreated: number;
            errors: string[];
            ignored: string[];
          },
        };
      };
      const first = await run();
      assert.equal(first.j.imported, 3, JSON.stringify(first.j));
      assert.equal(first.j.skipped, 1, '_10:00:00 and _10:00 are one time');
      assert.equal(first.j.devicesCreated, 1);
      assert.equal(first.code, 1, 'the collision is an error');
      assert.match(first.j.errors.join('\n'), /ABD0000001, abd0000001/);
      assert.match(first.j.ignored.join('\n'), /2009-02-30_10:00: not a date/);
      const users = readdirSync(join(root, 'users'));
      assert.deepEqual(users.sort(), ['SHI0000001']);
      const snaps = () =>
        readdirSync(join(root, 'users', 'SHI0000001'))
          .filter((n) => n.startsWith('datastore-2'))
          .sort();
      const before = snaps();
      assert.equal(before.length, 3);
      const second = await run();
      assert.deepEqual([second.j.imported, second.j.skipped, second.j.devicesCreated], [0, 4, 0]);
      assert.deepEqual(snaps(), before, 'nothing new');
    } finally {
      cleanup(old, root);
    }
  });
});
