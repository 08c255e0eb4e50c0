/**
 * The web pages in a real browser (Debian's Chromium via playwright-core):
 * a student signs in with the one-time link from `ds-backup restore --web`,
 * finds a document by title, downloads its .xoj (zip structure and metadata
 * checked) and keeps it forever (a pin); the admin signs in and sees a stale laptop flagged.
 * No console errors allowed. Screenshots go to test-output/web/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, skipNoChromium } from './helpers/browser.js';
import { agent, backupJson, cleanup, REPO, registered, startServer, type TestServer } from './helpers/harness.js';
import { readZip } from './helpers/unzip.js';

const SHOTS = join(REPO, 'test-output', 'web');
const A = 'SHF7000970';
const STALE = 'SHF7000971';
let srv: TestServer;
let browser: Browser;
const profiles: string[] = [];
const problems: string[] = [];

function watch(page: Page): Page {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return page;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  srv = await startServer();
  const a = await registered(srv.url, A, { entries: 60 });
  profiles.push(a.profile);
  await backupJson(a.profile);
  const s = await registered(srv.url, STALE, { entries: 5 });
  profiles.push(s.profile);
  await backupJson(s.profile);
  srv.ctx.store.db
    .prepare('UPDATE devices SET last_backup_at = ? WHERE serial = ?')
    .run(Date.now() - 10 * 86_400_000, STALE);
  srv.ctx.store.admin.setPassword('correct horse battery');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await srv.close();
  cleanup(srv.root, ...profiles);
});

test('student: one-time link, find by title, download the .xoj, pin it', { skip: skipNoChromium }, async () => {
  const r = await agent(['restore', '--web', '--no-open', '--profile', profiles[0]]);
  assert.equal(r.code, 0, r.stderr);
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1024, height: 800 } });
  const page = watch(await ctx.newPage());
  await page.goto(r.stdout.trim());
  assert.equal(new URL(page.url()).pathname, `/ui/j/${A}`);
  await page.screenshot({ path: join(SHOTS, 'journal.png'), fullPage: true });

  await page.fill('input[name=q]', 'montaña');
  await Promise.all([page.waitForURL(/q=/), page.click('form[method=get] button[type=submit]')]);
  const row = page
    .locator('tr', { has: page.locator('a.entry-title', { hasText: 'Mi dibujo de la montaña' }) })
    .first();
  await row.waitFor();
  await page.screenshot({ path: join(SHOTS, 'search.png'), fullPage: true });

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row.locator('a.button', { hasText: 'Restore to Journal' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^Mi dibujo de la montaña\.xoj$/);
  const zip = readZip(readFileSync((await download.path())!));
  const names = zip.map((m) => m.name).sort();
  const uid = names[0].split('/')[0];
  assert.deepEqual(names, [`${uid}/${uid}`, `${uid}/_metadata.json`, `${uid}/preview/${uid}`].sort());
  const meta = JSON.parse(zip.find((m) => m.name.endsWith('_metadata.json'))!.data.toString()) as Record<
    string,
    string
  >;
  assert.equal(meta.title, 'Mi dibujo de la montaña');
  assert.equal(meta.activity, 'org.laptop.Oficina');
  assert.equal(meta.mountpoint, undefined);
  const original = readFileSync(join(profiles[0], 'datastore', uid.slice(0, 2), uid, 'data'));
  assert.deepEqual(zip.find((m) => m.name === `${uid}/${uid}`)!.data, original);

  await Promise.all([page.waitForLoadState('load'), row.locator('button[name=pinbtn]').click()]);
  const pinnedRow = page.locator('tr', { has: page.locator(`a[href$="/e/${uid}"]`) }).first();
  await assert.doesNotReject(
    pinnedRow.locator('button[name=pinbtn]', { hasText: 'Stop keeping' }).waitFor({ timeout: 5000 }),
  );
  assert.ok(
    srv.ctx.store.db.prepare("SELECT 1 FROM pins WHERE kind = 'entry' AND uid = ?").get(uid),
    'pinned in the real pins',
  );
  await page.screenshot({ path: join(SHOTS, 'pinned.png'), fullPage: true });

  await page.click(`a[href$="/e/${uid}"]`);
  await page.screenshot({ path: join(SHOTS, 'entry.png'), fullPage: true });
  await page.goto(`${srv.url}/ui/j/${A}/backups`);
  await page.screenshot({ path: join(SHOTS, 'backups.png'), fullPage: true });
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${srv.url}/ui/j/${A}`);
  await page.screenshot({ path: join(SHOTS, 'journal-phone.png') });
  await ctx.close();
  assert.deepEqual(problems, []);
});

test('admin: password sign-in, a stale laptop is flagged', { skip: skipNoChromium }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  const page = watch(await ctx.newPage());
  await page.goto(`${srv.url}/ui/admin/login`);
  await page.fill('input[name=password]', 'correct horse battery');
  await Promise.all([page.waitForURL(/\/ui\/admin$/), page.click('main button[type=submit]')]);
  const stale = page.locator(`tr[data-serial="${STALE}"] .st-stale`);
  assert.equal(await stale.textContent(), 'not backed up for long');
  assert.equal(await page.locator(`tr[data-serial="${A}"] .st-ok`).textContent(), 'ok');
  await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });
  await page.click('a[href="/ui/admin?filter=stale"]');
  assert.equal(await page.locator('#laptops tr[data-serial]').count(), 1);
  await page.click(`a[href="/ui/admin/laptops/${STALE}"]`);
  await page.screenshot({ path: join(SHOTS, 'laptop.png'), fullPage: true });
  await ctx.close();
  assert.deepEqual(problems, []);
});
