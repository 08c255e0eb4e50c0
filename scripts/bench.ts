/**
 * bench — ds-backup against rsync-over-SSH, restic and cp -a on the same
 * generated Journal, side by side (issue #7). See BENCHMARKS.md.
 *
 *   npm run bench                       full run (1×: 1,500 entries ≈ 30,000 files; classroom; 4× scaling)
 *   npm run bench -- --quick            a small smoke run (30 small entries, 1 run)
 *   npm run bench -- --scenarios first,nochange --tools ds-backup,rsync --runs 5
 *   npm run bench -- --scenarios scaling --factors 4,16
 *
 *   npm run bench -- --scenarios replicate       the off-site copy against rclone sync (real Swift S3)
 *
 * Options: --scenarios LIST (first,nochange,change1,restore,classroom,scaling,edit-large,insert-large,
 *   versions-large,replicate)
 *   --tools LIST (ds-backup,rsync,restic,cp)  --runs N (default 3)
 *   --entries N (1× size, default 1500)  --scale reference|small
 *   --factors LIST (scaling, default 4)  --scaling-tools LIST (default ds-backup,rsync)
 *   --classroom LAPTOPSxENTRIES (default 30x150)  --work DIR (default /tmp/ds-bench)
 *   --out DIR (default bench-output)  --no-netns  --no-md (do not rewrite BENCHMARKS.md)
 *
 * As root it re-runs itself in a private network namespace (unshare --net)
 * so the loopback byte counter sees only the benchmark's traffic.
 * Needs the built CLIs (`npm run build`) and GNU time (/usr/bin/time).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { builtCliMissing, REPO } from './bench/dsbackup.js';
import { GNU_TIME } from './bench/measure.js';
import { goals, goalTable, machine, markdownTable, summarize } from './bench/report.js';
import { writeBenchmarksMd, writeNamedSection } from './bench/markdown.js';
import { replicateBench, replicateGoals, replicateMarkdown } from './bench/replicate.js';
import { ALL_SCENARIOS, runBench, type BenchOptions, type ScenarioName } from './bench/scenarios.js';
import type { ToolName } from './bench/peers.js';

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    scenarios: { type: 'string' },
    tools: { type: 'string' },
    runs: { type: 'string' },
    entries: { type: 'string' },
    scale: { type: 'string' },
    factors: { type: 'string' },
    'scaling-tools': { type: 'string' },
    classroom: { type: 'string' },
    work: { type: 'string' },
    out: { type: 'string' },
    'no-netns': { type: 'boolean' },
    'no-md': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (a.help) {
  const doc = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(new URL(import.meta.url), 'utf8'))![1];
  process.stdout.write(
    doc
      .split('\n')
      .map((l) => l.replace(/^ \* ?/, ''))
      .join('\n')
      .trim() + '\n',
  );
  process.exit(0);
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function list<T extends string>(v: string | undefined, all: readonly T[], dflt: T[]): T[] {
  if (!v) return dflt;
  const xs = v.split(',').map((x) => x.trim()) as T[];
  for (const x of xs) if (!all.includes(x)) fail(`unknown ${x}; choose from ${all.join(', ')}`);
  return xs;
}

function reexecInNetns(): void {
  if (a['no-netns'] || process.env.DSB_BENCH_NETNS || process.getuid?.() !== 0 || !existsSync('/usr/bin/unshare'))
    return;
  const args = [...process.execArgv, ...process.argv.slice(1)];
  const r = spawnSync(
    '/usr/bin/unshare',
    ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, ...args],
    {
      stdio: 'inherit',
      env: { ...process.env, DSB_BENCH_NETNS: '1' },
    },
  );
  if (r.error || r.status === null) return; // unshare not permitted: measure in the shared namespace
  process.exit(r.status);
}

async function main(): Promise<void> {
  const quick = Boolean(a.quick);
  const tools: ToolName[] = ['ds-backup', 'rsync', 'restic', 'cp'];
  const [laptops, perLaptop] = (a.classroom ?? (quick ? '3x10' : '30x150')).split('x').map(Number);
  if (!(laptops > 0 && perLaptop > 0)) fail('--classroom wants LAPTOPSxENTRIES, e.g. 30x150');
  const wanted = list<ScenarioName | 'replicate'>(
    a.scenarios,
    [...ALL_SCENARIOS, 'replicate'],
    quick ? ['first', 'nochange', 'change1', 'restore', 'classroom'] : [...ALL_SCENARIOS, 'replicate'],
  );
  const opts: BenchOptions = {
    work: a.work ?? '/tmp/ds-bench',
    entries: Number(a.entries ?? (quick ? 30 : 1500)),
    scale: (a.scale ?? (quick ? 'small' : 'reference')) as 'reference' | 'small',
    runs: Number(a.runs ?? (quick ? 1 : 3)),
    tools: list(a.tools, tools, tools),
    scenarios: wanted.filter((s): s is ScenarioName => s !== 'replicate'),
    classroom: { laptops, entries: perLaptop },
    factors: (a.factors ?? (quick ? '' : '4')).split(',').filter(Boolean).map(Number),
    scalingTools: list(a['scaling-tools'], tools, ['ds-backup', 'rsync']),
    log: (l) => process.stderr.write(`${l}\n`),
  };
  if (!Number.isInteger(opts.entries) || opts.entries < 8) fail('--entries must be an integer ≥ 8');
  if (!Number.isInteger(opts.runs) || opts.runs < 1) fail('--runs must be ≥ 1');
  if (opts.scale !== 'reference' && opts.scale !== 'small') fail('--scale is reference or small');
  const built = builtCliMissing();
  if (built) fail(built);
  if (!existsSync(GNU_TIME)) fail(`${GNU_TIME} not found (install: apt-get install time)`);
  reexecInNetns();

  const started = new Date();
  if (wanted.includes('replicate')) await replicateScenario(opts, quick);
  if (!opts.scenarios.length) return;
  const res = await runBench(opts);
  const summaries = res.rows.map(summarize);
  const g = goals(summaries);
  const table = markdownTable(summaries);
  const gt = goalTable(g);
  const mach = machine(opts.work);
  process.stdout.write(`\n${table}\n\n${gt}\n`);
  for (const n of res.notes) process.stdout.write(`note: ${n}\n`);
  const out = a.out ?? join(REPO, 'bench-output');
  mkdirSync(out, { recursive: true });
  const json = {
    date: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    machine: mach,
    netns: Boolean(process.env.DSB_BENCH_NETNS),
    options: { ...opts, log: undefined },
    summaries,
    goals: g,
    rows: res.rows,
    notes: res.notes,
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(json, null, 2));
  process.stdout.write(`\nresults: ${join(out, 'results.json')}\n`);
  if (!quick && !a['no-md']) {
    writeBenchmarksMd(join(REPO, 'BENCHMARKS.md'), {
      date: started,
      machine: mach,
      table,
      goals: gt,
      notes: res.notes,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      netns: json.netns,
    });
    process.stdout.write(`updated ${join(REPO, 'BENCHMARKS.md')}\n`);
  }
}

/** The `replicate` scenario (bench/replicate.ts): its own table and goals, its own part of BENCHMARKS.md. */
async function replicateScenario(opts: BenchOptions, quick: boolean): Promise<void> {
  opts.log(`== replicate (${opts.entries} entries; ds-backup-server replicate vs rclone sync, real Swift S3)`);
  const started = new Date();
  const r = await replicateBench(opts);
  const md = replicateMarkdown(r, opts.runs);
  process.stdout.write(`\n${md}\n`);
  const out = a.out ?? join(REPO, 'bench-output');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'replicate.json'),
    JSON.stringify(
      { date: started.toISOString(), machine: machine(opts.work), result: r, goals: replicateGoals(r) },
      null,
      2,
    ),
  );
  if (!quick && !a['no-md']) {
    const head = `Latest run: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench -- ${process.argv.slice(2).join(' ')}\``;
    writeNamedSection(join(REPO, 'BENCHMARKS.md'), 'replicate', `${head}\n\n${md}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
