/**
 * What the admin sees first and the student's sign-in, end to end against
 * the real server, agent CLI and cleanup CLI:
 *  - the dashboard sorts by need (stale, late, failing, ok) and shows the
 *    agent's reports: a real `ds-backup run` skipped on a low battery, and a
 *    failure reported through POST /api/v1/reports (authenticated);
 *  - archiving takes a laptop out of the counts; unarchiving brings it back;
 *  - the cleanup report reads as a sentence;
 *  - a laptop never backed up says so, My Journal says when the last
 *    backup was;
 *  - sign-in: a code typed with spaces works, an empty form and an ended
 *    session say what happened, and the student lands on the page asked for;
 *  - error pages are sentences in the reader's language with a way back;
 *  - the Documents folder of a backup can be browsed and its files downloaded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

const OK = 'SHF7000990';
const LATE = 'SHF7000991';
const STALE = 'SHF7000992';
const FAIL = 'SHF7000993';
const NEVER = 'SHF7000994';
const BATT = 'SHF7000995';
const DAY = 86_400_000;
let srv: TestServer;
const prof: Record<string, string> = {};

before(async () => {
  srv = await startServer();
  for (const sn of [OK, LATE, STALE, FAIL, NEVER, BATT]) {
    prof[sn] = (await registered(srv.url, sn, { entries: 4, documents: sn === OK })).profile;
    if (sn !== NEVER) await backupJson(prof[sn]);
  }
  const set = srv.ctx.store.db.prepare('UPDATE devices SET last_backup_at = ? WHERE serial = ?');
  set.run(Date.now() - 4 * DAY, LATE);
  set.run(Date.now() - 9 * DAY, STALE);
  srv.ctx.store.admin.setPassword('correct horse battery');
});
after(async () => {
  await srv.close();
  cleanup(srv.root, ...Object.values(prof));
});

async function signInAdmin(lang = 'en'): Promise<WebClient> {
  const c = new WebClient(srv.url, lang);
  const page = await c.text('/ui/admin/login');
  const r = await c.post('/ui/admin/login', { _csrf: WebClient.csrf(page), password: 'correct horse battery' });
  assert.equal(r.status, 303);
  return c;
}

const report = (sn: string, body: unknown, auth = true) =>
  fetch(`${srv.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token(prof[sn])}` } : {}) },
    body: JSON.stringify(body),
  });

/** The serials of the dashboard's rows, in order. */
const rows = (page: string) => [...page.matchAll(/<tr data-serial="(\w+)"/g)].map((m) => m[1]);

describe('dashboard', () => {
  test('agent reports: a real battery skip and a reported failure show on the dashboard, sorted by need', async () => {
    const sys = tmp('sysfs');
    const bat = join(sys, 'sys', 'class', 'power_supply', 'BAT0');
    mkdirSync(bat, { recursive: true });
    for (const [k, v] of Object.entries({ type: 'Battery', present: '1', capacity: '12', status: 'Discharging' }))
      writeFileSync(join(bat, k), `${v}\n`);
    // A new day for the agent: its "done today" mark is from this morning's backup, so remove it.
    rmSync(join(prof[BATT], 'ds-backup-done'), { force: true });
    const run = await agent(['run', '--profile', prof[BATT], '--no-sleep', '--sysfs-root', sys, '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { outcome: string }).outcome, 'skipped');

    assert.equal((await report(FAIL, { outcome: 'failed', reason: 'disk full' })).status, 204);
    assert.equal((await report(FAIL, { outcome: 'failed', reason: 'disk full' })).status, 204);
    assert.equal((await report(FAIL, { outcome: 'failed', reason: 'x' }, false)).status, 401);
    assert.equal((await report(FAIL, { outcome: 'exploded', reason: 'x' })).status, 400);
    assert.equal((await report(FAIL, { outcome: 'failed', reason: 'x', extra: 1 })).status, 400);

    const admin = await signInAdmin();
    const page = await admin.text('/ui/admin');
    assert.deepEqual(rows(page).slice(0, 4), [STALE, NEVER, LATE, FAIL]);
    assert.match(page, /4 laptops need attention: 2 not backed up for a long time or never, 1 late, 1 failing/);
    const failRow = page.slice(page.indexOf(`data-serial="${FAIL}"`)).split('</tr>')[0];
    assert.match(failRow, /failed: disk full \(2 times\)/);
    assert.match(failRow, /st-failing/);
    const battRow = page.slice(page.indexOf(`data-serial="${BATT}"`)).split('</tr>')[0];
    assert.match(battRow, /skipped: on battery at 12 %/);
    assert.match(battRow, /st-ok/, 'a skip is shown but is not a failure');
    const stale = page.slice(page.indexOf(`data-serial="${STALE}"`)).split('</tr>')[0];
    assert.match(stale, /9 days ago/);
    // The laptop's page lists its reports; a good backup afterwards clears the "failing" state.
    assert.match(await admin.text(`/ui/admin/laptops/${FAIL}`), /failed: disk full/);
    await backupJson(prof[FAIL]);
    const after = await admin.text('/ui/admin');
    assert.match(after.slice(after.indexOf(`data-serial="${FAIL}"`)).split('</tr>')[0], /st-ok/);
    cleanup(sys);
  });

  test('archive: out of the list and the counts, kept under Archived; unarchive brings it back', async () => {
    const admin = await signInAdmin();
    const csrf = WebClient.csrf(await admin.text(`/ui/admin/laptops/${STALE}`));
    const r = await admin.post(`/ui/admin/laptops/${STALE}/archive`, { _csrf: csrf, archived: '1' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/ui/admin/laptops/${STALE}?done=archived`);
    assert.match(await admin.text(r.headers.get('location')!), /This laptop is archived/);
    const dash = await admin.text('/ui/admin');
    assert.ok(!rows(dash).includes(STALE));
    assert.match(dash, /Not backed up for long \(1\)/);
    assert.match(dash, /Archived \(1\)/);
    assert.deepEqual(rows(await admin.text('/ui/admin?filter=archived')), [STALE]);
    await admin.post(`/ui/admin/laptops/${STALE}/archive`, { _csrf: csrf, archived: '0' });
    assert.ok(rows(await admin.text('/ui/admin')).includes(STALE));
  });

  test('the cleanup report reads as a sentence in the page language', async () => {
    const run = await serverCli(['cleanup', '--root', srv.root, '--force']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      await (await signInAdmin()).text('/ui/admin'),
      /Today [\d:]+\s?[AP]?M?: the cleanup removed \d+ backups and freed [\d.]+ \w*B\. No problems\./,
    );
    assert.match(
      await (await signInAdmin('es')).text('/ui/admin'),
      /Hoy [\d:]+: la limpieza quitó \d+ copias y liberó/,
    );
  });

  test('error pages are sentences in the reader language with a way back', async () => {
    const admin = await signInAdmin('fr');
    const r = await admin.get('/ui/admin/laptops/SHF0000001');
    assert.equal(r.status, 404);
    const t = await r.text();
    assert.match(t, /Page introuvable/);
    assert.match(t, /Il n’y a aucun ordinateur avec ce numéro de série/);
    assert.match(t, /href="\/ui\/admin">Retour au début/);
    const anon = new WebClient(srv.url, 'pt-BR');
    const nf = await anon.get('/ui/no-such-page');
    assert.equal(nf.status, 404);
    assert.match(await nf.text(), /Página não encontrada/);
  });
});

describe('student', () => {
  test('never backed up says so; My Journal says when the last backup was', async () => {
    const link = async (sn: string) => {
      const r = await agent(['restore', '--web', '--no-open', '--profile', prof[sn]]);
      const c = new WebClient(srv.url);
      await c.get(new URL(r.stdout.trim()).pathname);
      return c;
    };
    const never = await (await link(NEVER)).text(`/ui/j/${NEVER}`);
    assert.match(never, /This laptop has no backups yet/);
    assert.doesNotMatch(never, /No documents here/);
    assert.match(await (await link(OK)).text(`/ui/j/${OK}`), /Last backup: Today/);
  });

  test('sign-in: code with spaces, empty form, ended session, and landing on the page asked for', async () => {
    const pin = srv.ctx.store.restoreCodes.get(OK);
    const c = new WebClient(srv.url);
    // An ended session: the cookie is still there, the session is not.
    c.cookies.set('dsb_session', 'x'.repeat(43));
    const asked = `/ui/j/${OK}/backups`;
    const r = await c.get(asked);
    assert.equal(r.status, 303);
    const to = r.headers.get('location')!;
    assert.equal(to, `/ui/login?next=${encodeURIComponent(asked)}&ended=1`);
    const form = await c.text(to);
    assert.match(form, /You were signed out because you were away for a long time/);
    const csrf = WebClient.csrf(form);
    const empty = await c.post('/ui/login', { _csrf: csrf, serial: '', pin: '', next: asked });
    assert.equal(empty.status, 400);
    assert.match(await empty.text(), /Type the serial number of your laptop/);
    const noCode = await c.post('/ui/login', { _csrf: csrf, serial: OK, pin: '  ', next: asked });
    assert.match(await noCode.text(), /Type the restore code too/);
    const spaced = `${pin.slice(0, 3)} ${pin.slice(3)}`;
    const ok = await c.post('/ui/login', {
      _csrf: csrf,
      serial: ` ${OK.toLowerCase()} `,
      restoreCode: spaced,
      next: asked,
    });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), asked);
    // `next` is followed only to the signed-in account's own pages.
    for (const next of [`/ui/j/${LATE}`, '//evil.example/ui/j', 'https://evil.example/', '/ui/admin']) {
      const d = new WebClient(srv.url);
      const f = WebClient.csrf(await d.text('/ui/login'));
      const res = await d.post('/ui/login', { _csrf: f, serial: OK, pin, next });
      assert.equal(res.headers.get('location'), `/ui/j/${OK}`, next);
    }
  });

  test('Documents folder: browse the folders of a backup and download a file; nothing outside it', async () => {
    const r = await agent(['restore', '--web', '--no-open', '--profile', prof[OK]]);
    const c = new WebClient(srv.url);
    await c.get(new URL(r.stdout.trim()).pathname);
    const list = await c.text(`/ui/j/${OK}/docs`);
    const at = /href="(\/ui\/j\/\w+\/docs\/\w+\/[^"]+)"/.exec(list)![1];
    const top = await c.text(at);
    assert.match(top, /notas\.txt/);
    assert.match(top, /Mis fotos/);
    const sub = await c.text(`${at}?path=${encodeURIComponent('Mis fotos/viaje')}`);
    assert.match(sub, /mapa\.png/);
    const f = await c.get(`${at}/file?path=${encodeURIComponent('Mis fotos/viaje/mapa.png')}`);
    assert.equal(f.status, 200);
    assert.deepEqual(
      Buffer.from(await f.arrayBuffer()),
      readFileSync(join(prof[OK], 'Documents', 'Mis fotos', 'viaje', 'mapa.png')),
    );
    assert.match(f.headers.get('content-disposition')!, /filename="mapa\.png"/);
    for (const bad of ['../x', 'Mis fotos/../notas.txt', 'última foto', 'nope.txt'])
      assert.equal((await c.get(`${at}/file?path=${encodeURIComponent(bad)}`)).status, 404, bad);
    assert.equal((await c.get(at.replace(OK, LATE))).status, 404, 'another laptop: not found');
  });
});
