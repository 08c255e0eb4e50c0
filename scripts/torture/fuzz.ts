/**
 * fuzz — part 1: hostile requests over every route of the running app's
 * table (routes.ts; every route at least once, then at random), against
 * the server as its own process. Checks: no answer >= 500 (except classes
 * another branch is fixing, counted as pending), no request left without an
 * answer, the process never dies, its RSS stays within a bound; afterwards
 * a fresh laptop backs up and restores byte for byte with the real agent,
 * and the fuzzed laptop's listed snapshots still restore byte for byte.
 */
import { describe, sendRaw, type RawAnswer } from './http-raw.js';
import { aimAt } from './catalog-peek.js';
import { generate, type FuzzCtx, type Generated } from './fuzz-gen.js';
import { rssSampler } from './proc.js';
import { Rng } from './rng.js';
import { routeTable, routeKey, type Route } from './routes.js';
import { Tally, type PartResult, type PendingClass } from './tally.js';
import {
  addLaptop,
  adminSession,
  disableLaptop,
  listSnapshots,
  makeWorld,
  restoreDiff,
  sourceState,
  studentSession,
  METRICS_TOKEN,
  ADMIN_PASSWORD,
  type World,
} from './world.js';

export interface FuzzOptions {
  seed: string;
  requests: number;
  /** Send only this request of the stream (reproducing a failure). */
  onlyRequest?: number;
  concurrency: number;
  /** Largest fuzzed body, bytes. */
  hugeBytes: number;
  /** Allowed growth of the server's RSS over its size after setup, MiB. */
  rssBoundMiB: number;
  log: (line: string) => void;
}

const A = 'SHT0000001';
const B = 'SHT0000002';
const C = 'SHT0000003';
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const cookieOf = (s: { client: { cookies: Map<string, string> } }) =>
  [...s.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

/**
 * A >= 500 that belongs to a class fixed on another branch (see tally.ts
 * PENDING), or null when it is this suite's to fail. Decided from what was
 * sent, never from the answer alone.
 */
export function pendingClassOf(route: Route, g: Generated, ans: RawAnswer): PendingClass | null {
  // None left: the classes fixed on other branches (issue #16 items 4-8) are merged, so every >= 500 fails.
  void route;
  void g;
  void ans;
  return null;
}

async function setup(o: FuzzOptions): Promise<{ w: World; ctx: FuzzCtx; refresh(): Promise<void> }> {
  const w = await makeWorld('fuzz', [
    { serial: A, entries: 8 },
    { serial: B, entries: 4 },
    { serial: C, entries: 3 },
  ]);
  await disableLaptop(w, C);
  const la = w.laptops.get(A)!;
  const lb = w.laptops.get(B)!;
  const aim = aimAt(w.root, A);
  let lease = '0'.repeat(32);
  const ctx: FuzzCtx = {
    serial: A,
    otherSerial: B,
    tokens: [la.token, la.token, lb.token, w.laptops.get(C)!.token, w.adminToken, METRICS_TOKEN, 'x'.repeat(43)],
    basics: [
      basic(A, la.code),
      basic(B, lb.code),
      basic('admin', ADMIN_PASSWORD),
      basic(A, '000000'),
      basic(C, w.laptops.get(C)!.code),
    ],
    cookies: [],
    lease: () => lease,
    blobIds: aim.blobIds,
    snapshotNames: aim.snapshotNames,
    uids: aim.uids,
    versionIds: aim.versionIds,
    davPaths: [`${A}/`, `${A}/latest/`, 'me/', `${A}/Documents/`, `${B}/latest/`, ''],
    hugeBytes: o.hugeBytes,
  };
  const refresh = async () => {
    const r = await fetch(`${w.srv.url}/api/v1/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${la.token}` },
    });
    if (r.status === 201) lease = ((await r.json()) as { lease: string }).lease;
    else await r.body?.cancel();
    const sessions = await Promise.allSettled([studentSession(w, la), studentSession(w, lb), adminSession(w)]);
    const ok = sessions.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (ok.length) ctx.cookies = ok.map((s) => ({ cookie: cookieOf(s), csrf: s.csrf }));
  };
  await refresh();
  const prop = await fetch(`${w.srv.url}/dav/${A}/latest/`, {
    method: 'PROPFIND',
    headers: { authorization: ctx.basics[0], depth: '1' },
  });
  for (const m of (await prop.text()).matchAll(/<D:href>\/dav\/([^<]+)<\/D:href>/gi)) ctx.davPaths.push(m[1]);
  return { w, ctx, refresh };
}

export async function runFuzz(o: FuzzOptions): Promise<PartResult> {
  const t = new Tally('fuzz', o.seed, o.log);
  const rng = new Rng(`${o.seed}/fuzz`);
  const routes = await routeTable();
  t.count('routes', routes.length);
  const { w, ctx, refresh } = await setup(o);
  o.log(`fuzz: ${routes.length} routes; server ${w.srv.url} (root ${w.root})`);
  const host = '127.0.0.1';
  const base = w.srv.rssMiB();
  t.max('rssBaselineMiB', base);
  let rss = rssSampler(w.srv.pid);
  let peak = base;
  const timer = setInterval(() => void refresh().catch(() => {}), 3000);
  let next = o.onlyRequest ?? 0;
  const end = o.onlyRequest === undefined ? o.requests : o.onlyRequest + 1;
  const seen = new Set<string>();
  const worker = async () => {
    for (let k = next++; k < end; k = next++) {
      const r = rng.fork(`req${k}`);
      const route = k < routes.length ? routes[k] : r.pick(routes);
      const g = generate(route, r, ctx);
      const repro = `--only-request ${k}  # ${routeKey(route)} [${g.kind}${g.oddType ? ', odd type' : ''}] ${describe(g.req)}`;
      const ans = await sendRaw(host, w.srv.port, g.req, 60_000);
      t.count('requests');
      if (t.counts.requests % 500 === 0)
        o.log(`fuzz: ${t.counts.requests} requests, RSS ${w.srv.rssMiB().toFixed(0)} MiB`);
      t.count(`status ${ans.status >= 100 ? `${String(ans.status)[0]}xx` : 'closed'}`);
      seen.add(routeKey(route));
      if (ans.timedOut) t.fail('no answer within 60 s', repro);
      else if (ans.status >= 500) {
        const cls = pendingClassOf(route, g, ans);
        if (cls) t.pending(cls, `${ans.status} ${repro}`);
        else t.fail(`answered ${ans.status}: ${ans.body.subarray(0, 200).toString()}`, repro);
      }
      if (w.srv.died) {
        t.fail(`server process died (${JSON.stringify(w.srv.died)}): ${w.srv.stderr().slice(-2000)}`, repro);
        peak = Math.max(peak, rss.stop());
        await w.restart();
        rss = rssSampler(w.srv.pid);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, rss.stop());
  t.max('peakRssMiB', peak);
  if (peak - base > o.rssBoundMiB)
    t.fail(`server RSS grew ${(peak - base).toFixed(0)} MiB (bound ${o.rssBoundMiB})`, `--requests ${o.requests}`);
  const unseen = routes.filter((r) => !seen.has(routeKey(r)));
  if (unseen.length && o.onlyRequest === undefined)
    t.fail(`routes never fuzzed: ${unseen.map(routeKey).join(', ')}`, '');
  await afterwards(w, t);
  await w.close();
  return t.result();
}

/** The server still does its job: a fresh laptop backs up and restores byte for byte; the fuzzed one's snapshots restore. */
async function afterwards(w: World, t: Tally): Promise<void> {
  await t.check('(after the fuzz) fresh laptop', async () => {
    const lap = await addLaptop(w, { serial: 'SHT0000009', entries: 10, documents: true });
    for (const s of await listSnapshots(lap)) {
      const d = await restoreDiff(lap, s, sourceState(lap.profile, s.source));
      if (d.length) throw new Error(`fresh laptop ${s.name} differs: ${d.join('; ')}`);
      t.count('restoredAfter');
    }
  });
  await t.check('(after the fuzz) fuzzed laptop', async () => {
    const lap = w.laptops.get(A)!;
    for (const s of await listSnapshots(lap)) {
      const d = await restoreDiff(lap, s, sourceState(lap.profile, s.source));
      if (d.length) throw new Error(`fuzzed laptop ${s.name} differs: ${d.join('; ')}`);
      t.count('restoredAfter');
    }
  });
}
