/**
 * bench-web — how fast the Journal pages answer for a laptop with 2,000
 * entries (issue 5: under 200 ms). Builds the real server on a temp root,
 * registers and backs up a generated 2,000-entry Journal with the real
 * agent CLI (run `npm run build` first), signs in with a one-time link, then
 * times each page over several requests and prints the medians.
 *
 *   npm run bench:web [-- --entries 2000 --runs 15]
 */
import { performance } from 'node:perf_hooks';
import { backupJson, cleanup, registered, startServer } from '../test/helpers/harness.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ENTRIES = arg('entries', 2000);
const RUNS = arg('runs', 15);
const SN = 'SHF7001000';

const srv = await startServer();
const t0 = performance.now();
const { profile } = await registered(srv.url, SN, { entries: ENTRIES });
await backupJson(profile);
process.stdout.write(`setup: ${ENTRIES} entries backed up in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

const dev = srv.ctx.store.registry.bySerial(SN)!;
const { token } = srv.ctx.store.webAuth.createLink(dev.serial);
const signIn = await fetch(`${srv.url}/ui/link/${token}`, { redirect: 'manual' });
const cookie = signIn.headers.getSetCookie()[0].split(';')[0];
const backups = await (await fetch(`${srv.url}/ui/j/${SN}/backups`, { headers: { cookie } })).text();
const snap = /\/b\/([^"]+)"/.exec(backups)![1];
const someUid = (srv.ctx.store.db.prepare('SELECT uid FROM entries LIMIT 1').get() as { uid: string }).uid;

const pages: Array<[string, string]> = [
  ['My Journal, page 1', `/ui/j/${SN}`],
  ['My Journal, page 40 (last)', `/ui/j/${SN}?page=40`],
  ['search by title', `/ui/j/${SN}?q=Paint`],
  ['one backup, page 1', `/ui/j/${SN}/b/${snap}`],
  ['backup dates', `/ui/j/${SN}/backups`],
  ['document versions', `/ui/j/${SN}/e/${someUid}`],
];

const results: Array<{ page: string; medianMs: number; maxMs: number; bytes: number }> = [];
for (const [name, path] of pages) {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS + 2; i++) {
    const t = performance.now();
    const r = await fetch(srv.url + path, { headers: { cookie } });
    const body = await r.text();
    if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
    if (i >= 2) times.push(performance.now() - t);
    bytes = body.length;
  }
  times.sort((a, b) => a - b);
  results.push({
    page: name,
    medianMs: Number(times[Math.floor(times.length / 2)].toFixed(1)),
    maxMs: Number(times[times.length - 1].toFixed(1)),
    bytes,
  });
}
for (const r of results)
  process.stdout.write(
    `${r.page.padEnd(28)} median ${String(r.medianMs).padStart(6)} ms   max ${String(r.maxMs).padStart(6)} ms   ${r.bytes} bytes\n`,
  );
await srv.close();
cleanup(srv.root, profile);
