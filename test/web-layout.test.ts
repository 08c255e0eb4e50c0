/**
 * The web pages cannot break, and they pass an accessibility check, in a
 * real browser (Debian's Chromium via playwright-core) at the XO's
 * 1200×900 and a phone's 390×844:
 *
 *  - a Journal of 2,000 documents whose newest ones have adversarial titles
 *    (300 letters without a space, right-to-left, <script>, emoji, CJK, a
 *    long URL), a laptop never backed up, a laptop whose nickname is 200
 *    letters without a space, a failing, a stale and an archived laptop;
 *  - on every page: document.documentElement.scrollWidth <= innerWidth, and
 *    on pages that list documents the first row's "Restore to Journal"
 *    button lies inside the viewport;
 *  - axe-core (injected into each page) finds no serious or critical
 *    violation;
 *  - screenshots of the Journal, a document and the dashboard at both sizes
 *    go to test-output/web/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, skipNoChromium as skip } from './helpers/browser.js';
import { DashboardCatalog } from '../src/server/catalog/web-dashboard.js';
import {
  agent,
  backupJson,
  cleanup,
  REPO,
  registered,
  startServer,
  token,
  type TestServer,
} from './helpers/harness.js';

const SHOTS = join(REPO, 'test-output', 'web');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const A = 'SHF7000980';
const NEVER = 'SHF7000981';
const STALE = 'SHF7000982';
const FAILING = 'SHF7000983';
const GONE = 'SHF7000984';
const LONG = `Mi${'dibujo'.repeat(50)}`;
const TITLES = [
  LONG,
  'مرحبا بالعالم — رسمتي الجميلة للجبل والبحر',
  '<script>alert(1)</script>',
  '🎨🦖🌈 mi dibujo 🚀🚀🚀 con emoji 👩🏽‍🚀',
  '数学作业 수학 숙제 さんすうのしゅくだい',
  `https://example.org/${'camino/'.repeat(30)}`,
];
const SIZES = [
  { name: '1200', width: 1200, height: 900 },
  { name: '390', width: 390, height: 844 },
] as const;

let srv: TestServer;
let browser: Browser;
const profiles: string[] = [];
let longUid = '';
let snapUrl = '';

/** Gives the newest documents adversarial titles (Sugar layout 6: one file per metadata key). */
function adversarial(profile: string, entries: Array<{ uid: string; hasData: boolean; dataSize: number }>): string {
  const now = Math.floor(Date.now() / 1000);
  const victims = entries.filter((e) => e.hasData && e.dataSize > 0).slice(0, TITLES.length);
  victims.forEach((e, i) => {
    const meta = join(profile, 'datastore', e.uid.slice(0, 2), e.uid, 'metadata');
    writeFileSync(join(meta, 'title'), TITLES[i]);
    writeFileSync(join(meta, 'timestamp'), String(now - 10 - i));
  });
  return victims[0].uid;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  srv = await startServer();
  const now = Math.floor(Date.now() / 1000);
  const a = await registered(srv.url, A, { entries: 2000, now });
  profiles.push(a.profile);
  longUid = adversarial(a.profile, a.summary.entries);
  await backupJson(a.profile);
  profiles.push((await registered(srv.url, NEVER, { entries: 3 })).profile);
  for (const sn of [STALE, FAILING, GONE]) {
    const l = await registered(srv.url, sn, { entries: 4 });
    profiles.push(l.profile);
    await backupJson(l.profile);
  }
  const db = srv.ctx.store.db;
  db.prepare('UPDATE devices SET last_backup_at = ? WHERE serial IN (?, ?)').run(
    Date.now() - 10 * 86_400_000,
    STALE,
    GONE,
  );
  db.prepare('UPDATE devices SET nickname = ? WHERE serial = ?').run(`${'Nombre'.repeat(35)} שלום`, STALE);
  const failing = profiles[profiles.length - 2];
  const r = await fetch(`${srv.url}/api/v1/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token(failing)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ outcome: 'failed', reason: `hash mismatch in ${'x'.repeat(250)}` }),
  });
  assert.equal(r.status, 204);
  new DashboardCatalog(db).setArchived(GONE, true);
  srv.ctx.store.admin.setPassword('correct horse battery');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await srv.close();
  cleanup(srv.root, ...profiles);
});

async function studentContext(profile: string, size: (typeof SIZES)[number]): Promise<BrowserContext> {
  const r = await agent(['restore', '--web', '--no-open', '--profile', profile]);
  assert.equal(r.code, 0, r.stderr);
  const ctx = await browser.newContext({ viewport: size, bypassCSP: true, locale: 'en-GB' });
  const page = await ctx.newPage();
  await page.goto(r.stdout.trim());
  await page.close();
  return ctx;
}

async function adminContext(size: (typeof SIZES)[number]): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: size, bypassCSP: true });
  const page = await ctx.newPage();
  await page.goto(`${srv.url}/ui/admin/login`);
  await page.fill('input[name=password]', 'correct horse battery');
  await Promise.all([page.waitForURL(/\/ui\/admin$/), page.click('main button[type=submit]')]);
  await page.close();
  return ctx;
}

interface Check {
  path: string;
  /** Run axe-core here (default: at 1200 wide; at 390 only where asked). */
  axe?: boolean;
  /** The first row's Restore button must be on screen. */
  restore?: boolean;
  shot?: string;
}

/** Loads each page, checks its width, the first Restore button and axe; returns the problems found. */
async function checkPages(ctx: BrowserContext, size: (typeof SIZES)[number], pages: Check[]): Promise<string[]> {
  const problems: string[] = [];
  const page: Page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  for (const c of pages) {
    await page.goto(`${srv.url}${c.path}`);
    const m = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      inner: window.innerWidth,
      innerH: window.innerHeight,
    }));
    if (m.scroll > m.inner) problems.push(`${size.name} ${c.path}: page is ${m.scroll} px wide in ${m.inner}`);
    if (c.restore) {
      const b = await page.locator('table.cards tr:not(.head) a.button').first().boundingBox();
      if (!b || b.x < 0 || b.y < 0 || b.x + b.width > m.inner || b.y + b.height > m.innerH)
        problems.push(`${size.name} ${c.path}: first Restore button not in the viewport: ${JSON.stringify(b)}`);
    }
    if (size.width >= 1000 || c.axe) {
      await page.addScriptTag({ content: AXE });
      const violations = await page.evaluate(async () => {
        const axe = (window as unknown as { axe: { run(d: Document): Promise<{ violations: AxeViolation[] }> } }).axe;
        const r = await axe.run(document);
        return r.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}) ×${v.nodes.length}: ${v.nodes[0]?.html.slice(0, 120)}`);
      });
      for (const v of violations) problems.push(`${size.name} ${c.path}: axe ${v}`);
    }
    if (c.shot)
      await page.screenshot({ path: join(SHOTS, `${c.shot}-${size.name}.png`), fullPage: c.shot !== 'journal' });
  }
  await page.close();
  return problems;
}

interface AxeViolation {
  id: string;
  impact: string | null;
  nodes: Array<{ html: string }>;
}

describe('layout and accessibility in Chromium', { skip }, () => {
  test('axe-core runs in these pages: it finds a missing label and a missing alt text', async () => {
    const ctx = await browser.newContext({ bypassCSP: true });
    const page = await ctx.newPage();
    await page.setContent('<html lang="en"><title>t</title><main><img src="x.png"><input type="text"></main></html>');
    await page.addScriptTag({ content: AXE });
    const ids = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(d: Document): Promise<{ violations: AxeViolation[] }> } }).axe;
      return (await axe.run(document)).violations.map((v) => v.id);
    });
    await ctx.close();
    assert.ok(ids.includes('image-alt') && ids.includes('label'), ids.join(' '));
  });

  for (const size of SIZES) {
    test(`student pages at ${size.width}×${size.height}: no sideways scroll, first Restore on screen, no serious axe violation`, async () => {
      const ctx = await studentContext(profiles[0], size);
      const row = srv.ctx.store.db
        .prepare("SELECT id FROM entries WHERE uid = ? AND source = 'datastore' ORDER BY first_seq DESC")
        .get(longUid) as { id: number };
      const snap = srv.ctx.store.db
        .prepare("SELECT serial, name FROM snapshots WHERE serial = ? AND source = 'datastore'")
        .get(A) as { serial: string; name: string };
      snapUrl = `/ui/j/${A}/b/${snap.serial}/${snap.name}`;
      const problems = await checkPages(ctx, size, [
        { path: `/ui/j/${A}`, restore: true, shot: 'journal', axe: true },
        { path: `/ui/j/${A}?page=2`, restore: true },
        { path: `/ui/j/${A}?q=${encodeURIComponent('<script>')}`, restore: true },
        { path: `/ui/j/${A}?kind=drawing&when=year`, restore: true },
        { path: `/ui/j/${A}?q=nothing-matches-this` },
        { path: `/ui/j/${A}/backups` },
        { path: snapUrl, restore: true },
        { path: `/ui/j/${A}/e/${longUid}`, restore: true, shot: 'document', axe: true },
        { path: `/ui/j/${A}/v/${row.id}` },
        { path: `/ui/j/${A}/docs` },
        { path: `/ui/j/${A}/nothing-here` },
      ]);
      await ctx.close();
      const never = await studentContext(profiles[1], size);
      problems.push(...(await checkPages(never, size, [{ path: `/ui/j/${NEVER}`, shot: 'never' }])));
      await never.close();
      const anon = await browser.newContext({ viewport: size, bypassCSP: true });
      problems.push(
        ...(await checkPages(anon, size, [
          { path: '/ui/login' },
          { path: `/ui/login?ended=1&next=${encodeURIComponent(`/ui/j/${A}`)}` },
          { path: '/ui/admin/login' },
        ])),
      );
      await anon.close();
      assert.deepEqual(problems, []);
    });

    test(`admin pages at ${size.width}×${size.height}: no sideways scroll, no serious axe violation`, async () => {
      const ctx = await adminContext(size);
      const problems = await checkPages(ctx, size, [
        { path: '/ui/admin', shot: 'dashboard', axe: true },
        { path: '/ui/admin?filter=stale' },
        { path: `/ui/admin/laptops/${STALE}` },
        { path: `/ui/admin/laptops/${FAILING}`, shot: 'laptop' },
        { path: `/ui/admin/laptops/${A}/reset-code` },
        { path: `/ui/admin/laptops/${A}/delete?wrong=1` },
        { path: `/ui/j/${A}`, restore: true },
        { path: '/ui/admin/laptops/SHF0000000' },
      ]);
      await ctx.close();
      assert.deepEqual(problems, []);
    });
  }
});
