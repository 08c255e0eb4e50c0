/**
 * Web restore pages and dashboard: every safety rule of issue 5 (cookie
 * flags, CSRF, accounts see only their own data, the admin sees all,
 * escaping, sign-in rate limit) and the downloads (.xoj, data, zip, .xob),
 * against the real server and the real agent CLI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { TAR_END, tarHeader, tarPadding } from '../src/server/http/web/tar.js';
import { agent, backupJson, cleanup, registered, startServer, tmp, token, type TestServer } from './helpers/harness.js';
import { readZip } from './helpers/unzip.js';
import { readTarGz, WebClient } from './helpers/web-client.js';
import { contentDisposition } from '../src/server/http/web/download-routes.js';
import { html, raw } from '../src/server/http/web/html.js';
import { pickLanguage } from '../src/server/http/web/i18n/index.js';
import { limitDecision } from '../src/server/http/web/rate-limit.js';
import { laptopStatus } from '../src/server/http/web/admin-data.js';
import type { GenEntry } from '../src/journal/gen/generator.js';

const A = 'SHF7000950';
const B = 'SHF7000951';
const XSS = '<script>alert(1)</script>';
let srv: TestServer;
let profA: string;
let profB: string;
let entriesA: GenEntry[];

before(async () => {
  srv = await startServer();
  const a = await registered(srv.url, A, { entries: 30 });
  profA = a.profile;
  entriesA = a.summary.entries;
  const victim = entriesA.find((e) => e.hasData && e.dataSize > 0 && e.title !== XSS)!;
  writeFileSync(join(profA, 'datastore', victim.uid.slice(0, 2), victim.uid, 'metadata', 'title'), XSS);
  victim.title = XSS;
  await backupJson(profA);
  profB = (await registered(srv.url, B, { entries: 12 })).profile;
  await backupJson(profB);
  srv.ctx.store.admin.setPassword('correct horse battery');
});
after(async () => {
  await srv.close();
  cleanup(srv.root, profA, profB);
});

async function signInWithLink(profile: string, lang = 'en'): Promise<WebClient> {
  const r = await agent(['restore', '--web', '--no-open', '--profile', profile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^http:\/\/127\.0\.0\.1:\d+\/ui\/link\/[A-Za-z0-9_-]+\n$/, 'stdout is only the link');
  const c = new WebClient(srv.url, lang);
  const res = await c.get(new URL(r.stdout.trim()).pathname);
  assert.equal(res.status, 303);
  return c;
}

async function signInAdmin(): Promise<WebClient> {
  const c = new WebClient(srv.url);
  const page = await c.text('/ui/admin/login');
  const r = await c.post('/ui/admin/login', { _csrf: WebClient.csrf(page), password: 'correct horse battery' });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), '/ui/admin');
  return c;
}

describe('web sign-in and sessions', () => {
  test('one-time link: signs in once, sets an HttpOnly SameSite=Lax cookie, then never again', async () => {
    const r = await agent(['restore', '--web', '--no-open', '--profile', profA]);
    const path = new URL(r.stdout.trim()).pathname;
    const c = new WebClient(srv.url);
    const first = await c.get(path);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), `/ui/j/${A}`);
    const cookie = c.lastSetCookie.find((x) => x.startsWith('dsb_session='))!;
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.match(cookie, /Path=\/ui/);
    assert.doesNotMatch(cookie, /Secure/, 'no Secure flag over plain http');
    assert.equal((await c.get(`/ui/j/${A}`)).status, 200);
    const again = await new WebClient(srv.url).get(path);
    assert.equal(again.status, 401, 'a used link does not sign in');
    const rows = srv.ctx.store.db.prepare('SELECT hash FROM web_links').all() as Array<{ hash: string }>;
    assert.ok(
      rows.every((x) => !path.includes(x.hash)),
      'links are stored hashed',
    );
  });

  test('Secure cookie over https (behind a TLS proxy the request protocol is https)', async () => {
    const { WebKit } = await import('../src/server/http/web/kit.js');
    const kit = new WebKit(srv.ctx, srv.ctx.store.webAuth);
    let opts: Record<string, unknown> = {};
    const reply = {
      setCookie: (_n: string, _v: string, o: Record<string, unknown>) => {
        opts = o;
      },
    };
    kit.setSession({ protocol: 'https' } as never, reply as never, 'x');
    assert.equal(opts.secure, true);
    assert.equal(opts.httpOnly, true);
    assert.equal(opts.sameSite, 'lax');
  });

  test('serial + PIN sign-in; wrong PINs are rate-limited per serial (429 even for the right PIN)', async () => {
    const pin = (
      (await (
        await fetch(`${srv.url}/api/v1/pin`, { headers: { authorization: `Bearer ${token(profB)}` } })
      ).json()) as { pin: string }
    ).pin;
    assert.match(pin, /^\d{6}$/);
    assert.equal(
      (JSON.parse(readFileSync(join(profB, 'ds-backup', 'config.json'), 'utf8')) as { restoreCode: string })
        .restoreCode,
      pin,
      'register saved the restore code in the agent config',
    );
    const c = new WebClient(srv.url);
    const form = WebClient.csrf(await c.text('/ui/login'));
    const ok = await c.post('/ui/login', { _csrf: form, serial: B.toLowerCase(), pin });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), `/ui/j/${B}`);
    const bad = new WebClient(srv.url);
    let csrf = WebClient.csrf(await bad.text('/ui/login'));
    const wrong = pin === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++)
      assert.equal((await bad.post('/ui/login', { _csrf: csrf, serial: B, pin: wrong })).status, 401);
    csrf = WebClient.csrf(await bad.text('/ui/login'));
    const limited = await bad.post('/ui/login', { _csrf: csrf, serial: B, pin });
    assert.equal(limited.status, 429);
    assert.match(await limited.text(), /Too many tries/);
    assert.deepEqual(limitDecision([1, 2, 3], 10, { max: 3, windowMs: 100 }), { allow: false, retryAfterMs: 91 });
    assert.deepEqual(limitDecision([1, 2, 3], 200, { max: 3, windowMs: 100 }), { allow: true });
  });

  test('CSRF: a form post without the token or with a wrong one is refused (403)', async () => {
    const c = await signInWithLink(profA);
    const page = await c.text(`/ui/j/${A}`);
    const uid = entriesA[0].uid;
    const form = { kind: 'entry', ref: uid, action: 'pin', back: `/ui/j/${A}` };
    assert.equal((await c.post(`/ui/j/${A}/pin`, form)).status, 403);
    assert.equal((await c.post(`/ui/j/${A}/pin`, { ...form, _csrf: 'x'.repeat(32) })).status, 403);
    assert.equal((await c.post('/ui/logout', {})).status, 403);
    const good = await c.post(`/ui/j/${A}/pin`, { ...form, _csrf: WebClient.csrf(page) });
    assert.equal(good.status, 303);
    assert.ok(srv.ctx.store.db.prepare("SELECT 1 FROM pins WHERE kind = 'entry' AND uid = ?").get(uid), 'pinned');
    const lo = await c.post('/ui/logout', { _csrf: WebClient.csrf(page) });
    assert.equal(lo.status, 303);
    assert.equal((await c.get(`/ui/j/${A}`)).status, 303, 'signed out');
  });
});

describe('web authorization and escaping', () => {
  test('a student sees only their own account: other laptops, versions and downloads answer 404', async () => {
    const a = await signInWithLink(profA);
    const b = await signInWithLink(profB);
    const pageB = await b.text(`/ui/j/${B}`);
    const idB = /\/v\/(\d+)\/entry\.xoj/.exec(pageB)![1];
    const snapB = /\/b\/(SHF7000951\/datastore-[^"]+)"/.exec(await b.text(`/ui/j/${B}/backups`))![1];
    for (const p of [
      `/ui/j/${B}`,
      `/ui/j/${B}/backups`,
      `/ui/j/${B}/v/${idB}/entry.xoj`,
      `/ui/j/${A}/v/${idB}/entry.xoj`,
      `/ui/j/${A}/v/${idB}/data`,
      `/ui/j/${A}/v/${idB}/preview.png`,
      `/ui/j/${A}/v/${idB}`,
      `/ui/j/${A}/b/${snapB}`,
      `/ui/j/${A}/b/${snapB}/all.zip`,
      `/ui/j/${B}/b/${snapB}/all.xob`,
    ]) {
      assert.equal((await a.get(p)).status, 404, p);
    }
    assert.equal((await a.get('/ui/admin')).status, 303, 'students are sent to the admin sign-in');
    assert.equal((await a.get('/ui/admin/laptops/' + B)).status, 303);
    const anon = new WebClient(srv.url);
    assert.equal((await anon.get(`/ui/j/${A}`)).status, 303);
    assert.equal((await anon.get(`/ui/j/${B}/v/${idB}/entry.xoj`)).status, 303);
  });

  test('the admin sees every laptop and can download for a student', async () => {
    const c = await signInAdmin();
    const dash = await c.text('/ui/admin');
    assert.ok(dash.includes(A) && dash.includes(B));
    assert.match(dash, /<svg/);
    const page = await c.text(`/ui/j/${B}`);
    const id = /\/v\/(\d+)\/entry\.xoj/.exec(page)![1];
    const x = await c.get(`/ui/j/${B}/v/${id}/entry.xoj`);
    assert.equal(x.status, 200);
    assert.equal(x.headers.get('content-type'), 'application/vnd.olpc-journal-entry');
  });

  test('every value is escaped: a <script> title renders as text, search terms too', async () => {
    const c = await signInWithLink(profA);
    const page = await c.text(`/ui/j/${A}?q=${encodeURIComponent('script>')}`);
    assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'title shown as text');
    assert.ok(!page.includes(XSS), 'never raw');
    assert.ok(page.includes('value="script&gt;"'), 'search term escaped');
    assert.equal(html`<a title="${'"x"'}">${'<b>'}${raw('<i>')}</a>`.text, '<a title="&quot;x&quot;">&lt;b&gt;<i></a>');
    const admin = await signInAdmin();
    srv.ctx.store.registry.update(B, {});
    srv.ctx.store.db.prepare('UPDATE devices SET nickname = ? WHERE serial = ?').run(XSS, B);
    const dash = await admin.text('/ui/admin');
    assert.ok(!dash.includes(XSS) && dash.includes('&lt;script&gt;'));
  });

  test('Spanish from Accept-Language', async () => {
    const c = new WebClient(srv.url, 'es-AR,es;q=0.9,en;q=0.5');
    assert.match(await c.text('/ui/login'), /Recupera tus documentos/);
    assert.equal(pickLanguage('de, en;q=0.8'), 'en');
    assert.equal(pickLanguage('fr-HT, en;q=0.8'), 'fr');
    assert.equal(pickLanguage('pt-BR'), 'pt');
    assert.equal(pickLanguage('de;q=1, es;q=0.5'), 'es');
  });
});

describe('getting documents back', () => {
  test('Restore to Journal gives a valid .xoj; Download file gives the data with its name and type; no data → details only', async () => {
    const c = await signInWithLink(profA);
    const e = entriesA.find((x) => x.title === XSS)!;
    const versions = await c.text(`/ui/j/${A}/e/${e.uid}`);
    const id = /\/v\/(\d+)\/entry\.xoj/.exec(versions)![1];
    const x = await c.get(`/ui/j/${A}/v/${id}/entry.xoj`);
    assert.equal(x.headers.get('content-type'), 'application/vnd.olpc-journal-entry');
    assert.match(
      x.headers.get('content-disposition')!,
      /^attachment; filename="[^"]+\.xoj"; filename\*=UTF-8''.+\.xoj$/,
    );
    const members = readZip(Buffer.from(await x.arrayBuffer()));
    assert.deepEqual(
      members.map((m) => m.name).sort(),
      [`${e.uid}/${e.uid}`, `${e.uid}/_metadata.json`, `${e.uid}/preview/${e.uid}`].sort(),
    );
    const meta = JSON.parse(members.find((m) => m.name.endsWith('_metadata.json'))!.data.toString()) as Record<
      string,
      string
    >;
    assert.equal(meta.title, XSS);
    assert.equal(meta.preview, undefined);
    const data = readFileSync(join(profA, 'datastore', e.uid.slice(0, 2), e.uid, 'data'));
    assert.deepEqual(members.find((m) => m.name === `${e.uid}/${e.uid}`)!.data, data);
    const d = await c.get(`/ui/j/${A}/v/${id}/data`);
    assert.deepEqual(Buffer.from(await d.arrayBuffer()), data);
    assert.equal(d.headers.get('content-type')!.split(';')[0], e.mimeType || 'application/octet-stream');
    assert.match(
      d.headers.get('content-disposition')!,
      /^attachment; filename="_script_alert\(1\)_-script_\.\w+"; filename\*=UTF-8''%3Cscript%3E/,
    );

    const nodata = entriesA.find((x) => !x.hasData)!;
    const nd = await c.text(`/ui/j/${A}/e/${nodata.uid}`);
    assert.match(nd, /This document has no file/);
    assert.doesNotMatch(nd, /entry\.xoj/);
    const ndId = /\/v\/(\d+)"/.exec(nd)![1];
    assert.equal((await c.get(`/ui/j/${A}/v/${ndId}/entry.xoj`)).status, 404);
    const details = await c.text(`/ui/j/${A}/v/${ndId}`);
    assert.match(details, /<dt>Activity<\/dt>/, 'the student reads the details in words');
    assert.doesNotMatch(details, /<dt>activity<\/dt>/, 'the raw metadata is for the admin only');
    assert.match(await (await signInAdmin()).text(`/ui/j/${A}/v/${ndId}`), /<dt>activity<\/dt>/);
    assert.equal(
      contentDisposition('Mi dibujo "ñ".png'),
      `attachment; filename="Mi dibujo ___.png"; filename*=UTF-8''Mi%20dibujo%20%22%C3%B1%22.png`,
    );
  });

  test('preview thumbnails are PNG with caching headers and 304 on a matching ETag', async () => {
    const c = await signInWithLink(profA);
    const page = await c.text(`/ui/j/${A}`);
    const src = /src="([^"]+preview\.png)"/.exec(page)![1];
    const r = await c.get(src);
    assert.equal(r.headers.get('content-type'), 'image/png');
    assert.equal(Buffer.from(await r.arrayBuffer()).toString('latin1', 1, 4), 'PNG');
    assert.match(r.headers.get('cache-control')!, /max-age/);
    assert.equal((await c.get(src, { 'if-none-match': r.headers.get('etag')! })).status, 304);
  });

  test('everything from one date: a zip of the files and a .xob (tar.gz of the datastore)', async () => {
    const c = await signInWithLink(profA);
    const snap = /\/b\/(SHF7000950\/datastore-[^"]+)"/.exec(await c.text(`/ui/j/${A}/backups`))![1];
    const z = await c.get(`/ui/j/${A}/b/${snap}/all.zip`);
    assert.equal(z.headers.get('content-type'), 'application/zip');
    const files = readZip(Buffer.from(await z.arrayBuffer()));
    assert.equal(files.length, entriesA.filter((e) => e.hasData).length);
    assert.equal(new Set(files.map((f) => f.name.toLowerCase())).size, files.length, 'unique names');
    const x = await c.get(`/ui/j/${A}/b/${snap}/all.xob`);
    assert.equal(x.headers.get('content-type'), 'application/vnd.olpc-journal-backup');
    assert.match(x.headers.get('content-disposition')!, new RegExp(`filename="${A}_\\d{8}\\.xob"`));
    const xob = Buffer.from(await x.arrayBuffer());
    const tar = readTarGz(xob);
    assert.ok(tar.every((m) => m.name.startsWith('home/olpc/.sugar/default/datastore/')));
    const e = entriesA.find((m) => m.hasData)!;
    const member = tar.find((m) => m.name === `home/olpc/.sugar/default/datastore/${e.uid.slice(0, 2)}/${e.uid}/data`)!;
    assert.deepEqual(member.data, readFileSync(join(profA, 'datastore', e.uid.slice(0, 2), e.uid, 'data')));
    assert.ok(!tar.some((m) => /datastore\/(version|ds_clean|index_updated)$/.test(m.name)));
    // Sugar's Backup panel reads it with Python's tarfile (r:gz) and extracts it at /.
    const out = tmp('xob');
    writeFileSync(join(out, 'j.xob'), xob);
    const py = spawnSync(
      'python3',
      [
        '-c',
        'import sys,tarfile\nwith tarfile.open(sys.argv[1], "r:gz") as t:\n  t.extractall(sys.argv[2])\n  print(len(t.getmembers()))',
        join(out, 'j.xob'),
        join(out, 'x'),
      ],
      { encoding: 'utf8' },
    );
    if (!py.error) {
      assert.equal(py.status, 0, py.stderr);
      assert.equal(Number(py.stdout.trim()), tar.length);
      assert.deepEqual(readFileSync(join(out, 'x', member.name)), member.data);
    }
    cleanup(out);
  });

  test('tar writer: ustar prefix for long paths, pax for longer ones and long link targets', () => {
    const long = `${'d'.repeat(120)}/${'e'.repeat(150)}/f.txt`;
    const parts = [
      tarHeader({ path: 'a/b.txt', type: 'file', mode: 0o644, mtimeMs: 1000, size: 3 }),
      Buffer.from('abc'),
      tarPadding(3),
      tarHeader({ path: `${'p'.repeat(90)}/${'q'.repeat(90)}`, type: 'dir', mode: 0o755, mtimeMs: 1000, size: 0 }),
      tarHeader({ path: long, type: 'file', mode: 0o600, mtimeMs: 1000, size: 1 }),
      Buffer.from('z'),
      tarPadding(1),
      tarHeader({ path: 'l', type: 'symlink', mode: 0o777, mtimeMs: 1000, size: 0, linkTarget: 't'.repeat(150) }),
      TAR_END,
    ];
    const m = readTarGz(gzipSync(Buffer.concat(parts)));
    assert.deepEqual(
      m.map((x) => x.name),
      ['a/b.txt', `${'p'.repeat(90)}/${'q'.repeat(90)}/`, long, 'l'],
    );
    assert.equal(m[0].data.toString(), 'abc');
    assert.equal(m[2].data.toString(), 'z');
  });

  test('search by title and pagination of My Journal', async () => {
    const c = await signInWithLink(profA);
    const target = entriesA.find((e) => e.title === 'Mi dibujo de la montaña')!;
    const page = await c.text(`/ui/j/${A}?q=${encodeURIComponent('dibujo de la')}`);
    assert.match(page, new RegExp(`${entriesA.filter((e) => e.title.includes('dibujo de la')).length} documents`));
    assert.ok(page.includes(`/e/${target.uid}`));
    assert.match(await c.text(`/ui/j/${A}?q=${encodeURIComponent('%')}`), /0 documents/, 'LIKE wildcards are literal');
  });
});

describe('admin', () => {
  test('status rule: ok / late (3 days) / stale (7 days) / never / disabled', () => {
    const day = 86_400_000;
    const p = { lateDays: 3, staleDays: 7 };
    assert.equal(laptopStatus(10 * day - day, false, 10 * day, p).status, 'ok');
    assert.equal(laptopStatus(10 * day - 4 * day, false, 10 * day, p).status, 'late');
    assert.equal(laptopStatus(10 * day - 8 * day, false, 10 * day, p).status, 'stale');
    assert.equal(laptopStatus(null, false, 10 * day, p).status, 'never');
    assert.equal(laptopStatus(0, true, 10 * day, p).status, 'disabled');
  });

  test('no admin password: the sign-in page says how to set one', async () => {
    const other = await startServer();
    const page = await (await fetch(`${other.url}/ui/admin/login`)).text();
    assert.match(page, /ds-backup-server admin-password --root/);
    assert.doesNotMatch(page, /type="password"/);
    await other.close();
    cleanup(other.root);
  });

  test('disable / enable, reset PIN, replaced laptop (approval and PIN), delete with confirmation', async () => {
    const admin = await signInAdmin();
    const OLD = 'SHF7000960';
    const old = await registered(srv.url, OLD, { entries: 8 });
    await backupJson(old.profile);
    let page = await admin.text(`/ui/admin/laptops/${OLD}`);
    const csrf = WebClient.csrf(page);
    // disable: the laptop can no longer get a sign-in link; every post answers with a redirect (PRG)
    const off = await admin.post(`/ui/admin/laptops/${OLD}/enable`, { _csrf: csrf, enabled: '0' });
    assert.equal(off.status, 303);
    assert.equal(off.headers.get('location'), `/ui/admin/laptops/${OLD}?done=saved`);
    assert.equal((await agent(['restore', '--web', '--no-open', '--profile', old.profile])).code, 1);
    await admin.post(`/ui/admin/laptops/${OLD}/enable`, { _csrf: csrf, enabled: '1' });
    assert.match(await admin.text(`/ui/admin/laptops/${OLD}?done=saved`), /Disable backups/);
    // reset the restore code: asked first, then a redirect to a page that shows the new code
    assert.match(await admin.text(`/ui/admin/laptops/${OLD}/reset-code`), /The old code stops working/);
    const reset = await admin.post(`/ui/admin/laptops/${OLD}/restore-code`, { _csrf: csrf });
    assert.equal(reset.status, 303);
    page = await admin.text(reset.headers.get('location')!);
    const pin = /New restore code for SHF7000960: (\d{6})/.exec(page)![1];
    // reloading that page resets nothing: same code, and the laptop's status shows it
    assert.match(await admin.text(reset.headers.get('location')!), new RegExp(`restore code for SHF7000960: ${pin}`));
    assert.match(
      (await agent(['status', '--profile', old.profile])).stdout,
      new RegExp(`restore code: +${pin} \\(current`),
    );
    // replacement with the old PIN: the new laptop lists the old backups
    const n1 = await registered(srv.url, 'SHF7000961', { entries: 1 }).catch((e: Error) => e);
    assert.ok(!(n1 instanceof Error));
    const fresh = (await import('./helpers/harness.js')).laptop({ seed: 'new' });
    const replace = (serial: string, profile: string, ...extra: string[]) =>
      agent(['register', '--server', srv.url, '--serial', serial, '--replaces', OLD, ...extra, '--profile', profile]);
    const wrong = await replace('SHF7000962', fresh.profile, '--old-pin', pin === '000000' ? '111111' : '000000');
    assert.notEqual(wrong.code, 0);
    const right = await replace('SHF7000962', fresh.profile, '--old-pin', pin);
    assert.equal(right.code, 0, right.stderr);
    const list = JSON.parse((await agent(['list', '--profile', fresh.profile, '--json'])).stdout) as {
      snapshots: Array<{ serial: string }>;
    };
    assert.ok(
      list.snapshots.some((s) => s.serial === OLD),
      'the new laptop sees the old backups',
    );
    // replacement approved by the admin, no PIN
    const approve = await admin.post(`/ui/admin/laptops/${OLD}/replace`, { _csrf: csrf, newSerial: 'SHF 7000963' });
    assert.equal(approve.status, 303);
    assert.match(await admin.text(approve.headers.get('location')!), /SHF7000963 may now register/);
    const fresh2 = (await import('./helpers/harness.js')).laptop({ seed: 'new2' });
    const viaApproval = await replace('SHF7000963', fresh2.profile);
    assert.equal(viaApproval.code, 0, viaApproval.stderr);
    // delete: wrong confirmation does nothing, the right one removes every laptop of the account
    assert.match(await admin.text(`/ui/admin/laptops/${OLD}/delete`), /Type the serial number/);
    const nope = await admin.post(`/ui/admin/laptops/${OLD}/delete`, { _csrf: csrf, confirm: 'nope' });
    assert.equal(nope.status, 303);
    assert.match(await admin.text(nope.headers.get('location')!), /That is not the serial number of this laptop/);
    assert.ok(existsSync(join(srv.root, 'users', OLD)));
    const del = await admin.post(`/ui/admin/laptops/${OLD}/delete`, { _csrf: csrf, confirm: OLD });
    assert.equal(del.status, 303);
    assert.match(
      await admin.text(del.headers.get('location')!),
      /Deleted the data of SHF7000960, SHF7000962, SHF7000963/,
    );
    assert.ok(!existsSync(join(srv.root, 'users', OLD)));
    assert.equal(srv.ctx.store.registry.bySerial('SHF7000962'), undefined);
    assert.equal(
      (srv.ctx.store.db.prepare('SELECT count(*) AS n FROM snapshots WHERE serial = ?').get(OLD) as { n: number }).n,
      0,
    );
    cleanup(old.profile, fresh.profile, fresh2.profile, (n1 as { profile: string }).profile);
  });
});
