/**
 * A laptop joins the school's backups with `curl -fsSL SERVER/agent/install | sh`
 * (issue 17): the real server, the real script run by `sh` in a fresh HOME
 * (DSB_SERIAL, no systemd: the crontab line goes to a stand-in crontab), then
 * `ds-backup run --no-sleep` backs up; a second run changes nothing; uninstall
 * undoes it; the enrollment key without and with; a tampered bundle refused;
 * a laptop without Node told about the 2008 path; the /agent/ page.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { existsSync, readFileSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, REPO, startServer, tmp, token, type TestServer } from './helpers/harness.js';
import { crontabOf, freshLaptop, installLine, launcher, tamperingProxy, type Laptop } from './helpers/install.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const BUNDLE = readFileSync(join(REPO, 'dist', 'ds-backup.mjs'));
const SHA = createHash('sha256').update(BUNDLE).digest('hex');

const servers: TestServer[] = [];
const dirs: string[] = [];
async function server(overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(overrides);
  servers.push(s);
  dirs.push(s.root);
  return s;
}
function laptop(seed: string, opts?: Parameters<typeof freshLaptop>[1]): Laptop {
  const l = freshLaptop(seed, opts);
  dirs.push(l.home);
  return l;
}
after(async () => {
  for (const s of servers) await s.close();
  cleanup(...dirs);
});

/** Content and identity of every file the install writes, to show a second run changes nothing. */
function footprint(l: Laptop): Record<string, string> {
  const files = ['install.json', `agent-${SHA.slice(0, 16)}.mjs`].map((f) => join(l.dataDir, f));
  files.push(l.launcher, join(l.profile, 'ds-backup', 'config.json'), join(l.home, 'crontab.txt'));
  const out: Record<string, string> = { current: readlinkSync(join(l.dataDir, 'current.mjs')) };
  for (const f of files) {
    const st = statSync(f);
    out[f] = `${st.ino} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(f)).digest('hex')}`;
  }
  return out;
}

describe('install from the school server', () => {
  test('install, back up, install again (nothing changes), uninstall', async () => {
    const srv = await server();
    const l = laptop('inst1');
    const first = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001701' });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /agent [\d.]+: installed/);
    const code = /restore code: (\d{6})/.exec(first.stderr)?.[1];
    assert.ok(code, `restore code shown: ${first.stderr}`);
    assert.match(first.stderr, /see it again with: ds-backup status/);
    const cfg = JSON.parse(readFileSync(join(l.profile, 'ds-backup', 'config.json'), 'utf8'));
    assert.equal(cfg.serial, 'SHF0001701');
    assert.equal(cfg.server, srv.url);
    assert.equal(cfg.restoreCode, code);
    assert.equal(readlinkSync(join(l.dataDir, 'current.mjs')), `agent-${SHA.slice(0, 16)}.mjs`);
    assert.ok(readFileSync(join(l.dataDir, `agent-${SHA.slice(0, 16)}.mjs`)).equals(BUNDLE), 'the bundle as served');
    assert.equal(statSync(l.launcher).mode & 0o777, 0o755);
    assert.match(first.stderr, /\.local\/bin is not on PATH/);
    const cron = crontabOf(l);
    assert.match(cron, new RegExp(`^\\*/15 \\* \\* \\* \\* .*/bin/sh ${l.launcher} run >>`, 'm'));

    const v = await launcher(l, ['--version']);
    assert.equal(v.stdout.trim(), VERSION);
    const run = await launcher(l, ['run', '--no-sleep']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /backed up: datastore-/);
    const list = await launcher(l, ['list', '--json']);
    assert.equal((JSON.parse(list.stdout) as { snapshots: unknown[] }).snapshots.length, 1);

    const before = footprint(l);
    const second = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001701' });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /already here/);
    assert.match(second.stderr, /already registered SHF0001701 .*nothing changed/);
    assert.match(second.stderr, /crontab line unchanged/);
    assert.match(second.stderr, new RegExp(`restore code: ${code}`));
    assert.deepEqual(footprint(l), before, 'a second install run writes nothing');

    const un = await launcher(l, ['uninstall']);
    assert.equal(un.code, 0, un.stderr);
    assert.ok(!existsSync(l.launcher) && !existsSync(l.dataDir), 'agent and launcher removed');
    assert.doesNotMatch(crontabOf(l), /ds-backup/);
    assert.ok(existsSync(join(l.profile, 'ds-backup', 'config.json')), 'registration kept without --forget');
    assert.ok(existsSync(join(l.profile, 'datastore')), 'the Journal is never touched');
    assert.match(un.stderr, /--forget removes them/);
  });

  test('uninstall --forget also removes the token; the server keeps the backups', async () => {
    const srv = await server();
    const l = laptop('inst2');
    assert.equal((await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001702' })).code, 0);
    assert.equal((await launcher(l, ['backup', '--json'])).code, 0);
    const bearer = token(l.profile);
    const un = await launcher(l, ['uninstall', '--forget', '--json']);
    assert.equal(un.code, 0, un.stderr);
    assert.ok(!existsSync(join(l.profile, 'ds-backup')) && !existsSync(join(l.profile, 'ds-backup-done')));
    assert.ok(existsSync(join(l.profile, 'datastore')));
    const kept = await fetch(`${srv.url}/api/v1/snapshots`, { headers: { authorization: `Bearer ${bearer}` } });
    assert.equal(((await kept.json()) as { snapshots: unknown[] }).snapshots.length, 1, 'the server keeps the backups');
  });

  test('enrollment key: refused without it (nothing installed), wrong key refused, right key registers', async () => {
    const srv = await server({ enrollmentKey: 'sesame-2008' });
    const l = laptop('key1', { cron: false });
    const none = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001703' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /enrollment key: ask the school's IT person, then run: .*DSB_ENROLL_KEY=KEY sh/);
    assert.match(none.stderr, /nothing was installed/);
    assert.ok(!existsSync(join(l.home, '.local')), 'nothing touched before the checks pass');

    const wrong = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001703', DSB_ENROLL_KEY: 'sesame-2009' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong enrollment key/);
    assert.ok(!existsSync(join(l.profile, 'ds-backup', 'config.json')));

    const right = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001703', DSB_ENROLL_KEY: 'sesame-2008' });
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stderr, /registered SHF0001703/);
    assert.match(right.stderr, /neither a systemd user session nor cron.*\n.*\*\/15 \* \* \* \*/);
    // A registered laptop needs no key again (its token shows it joined already).
    const again = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001703' });
    assert.equal(again.code, 0, again.stderr);

    const api = await fetch(`${srv.url}/api/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serial: 'SHF0001704' }),
    });
    assert.equal(api.status, 403);
    assert.deepEqual(((await api.json()) as { details: unknown }).details, { enrollmentKey: 'required' });
  });

  test('a bundle changed on the way is refused by the script, nothing installed', async () => {
    const srv = await server();
    const proxy = await tamperingProxy(srv.url, '/agent/ds-backup.mjs');
    try {
      const l = laptop('tamper');
      const r = await installLine(proxy.url, l, { DSB_SERIAL: 'SHF0001705' });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`has SHA-256 [0-9a-f]{64}, not ${SHA} as the server published: refused`));
      assert.ok(!existsSync(join(l.home, '.local')));
      assert.equal(srv.ctx.store.registry.bySerial('SHF0001705'), undefined);
    } finally {
      await proxy.close();
    }
  });

  test('without Node.js or a serial: one line each, the 2008 path explained, nothing touched', async () => {
    const srv = await server();
    const bin = tmp('bin-no-node');
    dirs.push(bin);
    for (const t of ['sh', 'curl', 'grep', 'tr', 'wc', 'sed', 'cut', 'cat', 'mktemp', 'rm'])
      symlinkSync(t === 'sh' ? '/bin/sh' : `/usr/bin/${t}`, join(bin, t));
    const l = laptop('nonode', { path: bin });
    const r = await installLine(srv.url, l);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Node\.js 20 or newer is needed and there is no node command/);
    assert.match(r.stderr, /no XO serial number: give it one, e\.g\. .*DSB_SERIAL=ABC1234 sh/);
    assert.match(r.stderr, /choose "Register"/);
    assert.ok(!existsSync(join(l.home, '.local')));
  });

  test('the /agent/ page shows the line in the page language; the Host header is checked', async () => {
    const srv = await server({ enrollmentKey: 'k' });
    const en = await (await fetch(`${srv.url}/agent/`)).text();
    assert.match(en, new RegExp(`value="curl -fsSL ${srv.url}/agent/install \\| sh"`));
    assert.match(en, /enrollment key/);
    assert.match(en, new RegExp(SHA));
    const es = await (await fetch(`${srv.url}/agent/`, { headers: { 'accept-language': 'es-AR,es;q=0.9' } })).text();
    assert.match(es, /<html lang="es">/);
    assert.match(es, /pega esta línea/);
    const bad = await new Promise<number>((ok) => {
      const u = new URL(srv.url);
      const req = http.get({
        host: u.hostname,
        port: u.port,
        path: '/agent/install',
        headers: { host: "x'$(reboot)" },
      });
      req.on('response', (res) => ok(res.statusCode ?? 0));
    });
    assert.equal(bad, 400);
  });
});
