/**
 * scenarios — the benchmark's work, run the same way for every tool.
 *
 * One corpus per size (the project's deterministic generator, reference
 * scale), one laptop. Within each repetition the tools take turns in a
 * rotated order (A B C, B C A, …) so a noisy neighbour hits them all alike.
 *  first     fresh destination, full backup (cp -a copies everything)
 *  nochange  back up again, nothing changed
 *  change1   mutateJournal edits 1 % of the entries (+2 new), then back up
 *  restore   everything back into an empty folder (rsync pulls from sshd)
 *  classroom N laptops sharing 40 % of their data (generator sharedPool),
 *            each backed up once; totals are compared
 *  scaling   nochange and change1 again at k× the corpus (untimed first)
 *  edit-large, insert-large, versions-large   a 50 MB file edited (large.ts)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeProfile } from '../../src/journal/gen/generator.js';
import { mutateJournal } from '../../src/journal/gen/mutate.js';
import { run, type Sample } from './measure.js';
import { DsBackupTool } from './dsbackup.js';
import { bigFilePath, insert, LARGE_BYTES, overwrite, randomish, tenVersions } from './large.js';
import { CpTool, missingPeer, ResticTool, RsyncTool, type Laptop, type Tool, type ToolName } from './peers.js';

export type ScenarioName =
  | 'first'
  | 'nochange'
  | 'change1'
  | 'restore'
  | 'classroom'
  | 'scaling'
  | 'edit-large'
  | 'insert-large'
  | 'versions-large';
export const ALL_SCENARIOS: ScenarioName[] = [
  'first',
  'nochange',
  'change1',
  'restore',
  'classroom',
  'scaling',
  'edit-large',
  'insert-large',
  'versions-large',
];
const LARGE_SCENARIOS: ScenarioName[] = ['edit-large', 'insert-large', 'versions-large'];

export interface BenchOptions {
  /** Scratch folder for corpora and destinations (wiped as it goes). */
  work: string;
  /** Entries of the 1× corpus (reference: 1,500). */
  entries: number;
  scale: 'reference' | 'small';
  runs: number;
  tools: ToolName[];
  scenarios: ScenarioName[];
  classroom: { laptops: number; entries: number };
  /** Scaling factors beyond 1× (e.g. [4, 16]). */
  factors: number[];
  scalingTools: ToolName[];
  log: (line: string) => void;
}

export interface Row {
  scenario: ScenarioName;
  size: string;
  tool: ToolName;
  runs: Sample[];
  corpus: { entries: number; files: number; bytes: number };
}

export interface BenchResult {
  rows: Row[];
  notes: string[];
}

async function makeTools(opts: BenchOptions, names: ToolName[], notes: string[]): Promise<Tool[]> {
  const out: Tool[] = [];
  for (const name of names) {
    const missing = missingPeer(name);
    if (missing) {
      if (!notes.includes(missing)) notes.push(missing);
      opts.log(missing);
      continue;
    }
    const root = join(opts.work, 'dest', name);
    if (name === 'rsync') out.push(await new RsyncTool(root).start());
    else if (name === 'restic') out.push(new ResticTool(root));
    else if (name === 'cp') out.push(new CpTool(root));
    else out.push(new DsBackupTool(root));
  }
  return out;
}

function rotate<T>(xs: T[], by: number): T[] {
  const k = xs.length ? by % xs.length : 0;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function corpus(
  opts: BenchOptions,
  tag: string,
  entries: number,
  extra: { seed?: string; sharedPool?: { seed: string; fraction: number } } = {},
) {
  const profile = join(opts.work, 'corpus', tag);
  rmSync(profile, { recursive: true, force: true });
  const t = Date.now();
  const s = writeProfile(profile, {
    seed: extra.seed ?? 'bench',
    entries,
    scale: opts.scale,
    sharedPool: extra.sharedPool,
  });
  opts.log(
    `corpus ${tag}: ${s.entries.length} entries, ${s.files} files, ${(s.bytes / 1e6).toFixed(0)} MB (${((Date.now() - t) / 1000).toFixed(1)} s)`,
  );
  const laptop: Laptop = { label: tag, profile, datastore: join(profile, 'datastore') };
  return { laptop, info: { entries: s.entries.length, files: s.files, bytes: s.bytes } };
}

async function repeat(
  opts: BenchOptions,
  tools: Tool[],
  rows: Row[],
  base: Omit<Row, 'tool' | 'runs'>,
  before: (rep: number) => Promise<void>,
  one: (t: Tool) => Promise<Sample>,
): Promise<void> {
  const mine = new Map(tools.map((t) => [t.name, { ...base, tool: t.name, runs: [] as Sample[] }]));
  for (const t of tools) if (t instanceof DsBackupTool) t.resetPeak();
  for (let rep = 0; rep < opts.runs; rep++) {
    await before(rep);
    for (const t of rotate(tools, rep)) {
      // Start every timed run with no dirty pages left by the previous step
      // (ds-backup's syncfs would otherwise pay for other tools' writes).
      await run('sync', []);
      const s = await one(t);
      mine.get(t.name)!.runs.push(s);
      opts.log(
        `  ${base.scenario} ${base.size} ${t.name} #${rep + 1}: ${s.wall.toFixed(2)} s, wire ${s.wire === null ? '-' : (s.wire / 1e6).toFixed(1) + ' MB'}, cpu ${s.cpu.toFixed(2)} s, rss ${(s.rss / 1e6).toFixed(0)} MB`,
      );
    }
  }
  rows.push(...mine.values());
}

/** first / nochange / change1 / restore on one corpus. */
async function suite(
  opts: BenchOptions,
  tools: Tool[],
  size: string,
  entries: number,
  want: Set<ScenarioName>,
  rows: Row[],
): Promise<void> {
  const { laptop, info } = corpus(opts, `c${size.replace('×', 'x')}`, entries);
  const base = (scenario: ScenarioName) => ({ scenario, size, corpus: info });
  const incremental = tools.filter((t) => t.name !== 'cp');
  if (want.has('first')) {
    await repeat(
      opts,
      tools,
      rows,
      base('first'),
      async () => {},
      async (t) => {
        await t.reset();
        await t.prepare(laptop);
        return t.backup(laptop);
      },
    );
  } else {
    for (const t of incremental) {
      await t.reset();
      await t.prepare(laptop);
      await t.backup(laptop);
    }
  }
  if (want.has('nochange'))
    await repeat(
      opts,
      incremental,
      rows,
      base('nochange'),
      async () => {},
      (t) => t.backup(laptop),
    );
  if (want.has('change1')) {
    await repeat(
      opts,
      incremental,
      rows,
      base('change1'),
      async (rep) => {
        const m = mutateJournal(laptop.datastore, { seed: `bench-${size}-${rep}`, fraction: 0.01 });
        opts.log(`  mutated: ${m.changed.length} changed, ${m.added.length} added`);
      },
      (t) => t.backup(laptop),
    );
  }
  if (want.has('restore')) {
    await repeat(
      opts,
      tools,
      rows,
      base('restore'),
      async () => {},
      async (t) => {
        const to = join(opts.work, 'restored', t.name);
        rmSync(to, { recursive: true, force: true });
        mkdirSync(join(opts.work, 'restored'), { recursive: true });
        const s = await t.restore(laptop, to);
        rmSync(to, { recursive: true, force: true });
        return s;
      },
    );
  }
  for (const t of tools) await t.reset();
  rmSync(laptop.profile, { recursive: true, force: true });
}

/** N laptops sharing 40 % of their data, each backed up once; one aggregate sample per tool. */
async function classroom(opts: BenchOptions, tools: Tool[], rows: Row[]): Promise<void> {
  const { laptops, entries } = opts.classroom;
  const kids = Array.from({ length: laptops }, (_, i) =>
    corpus(opts, `kid${i + 1}`, entries, { seed: `kid${i + 1}`, sharedPool: { seed: 'classroom', fraction: 0.4 } }),
  );
  const info = kids.reduce(
    (a, k) => ({ entries: a.entries + k.info.entries, files: a.files + k.info.files, bytes: a.bytes + k.info.bytes }),
    { entries: 0, files: 0, bytes: 0 },
  );
  for (const t of tools) await t.reset();
  const total = new Map(
    tools.map((t) => [
      t.name,
      { wall: 0, cpu: 0, rss: 0, wire: 0 as number | null, serverRss: 0 as number | null, serverCpu: 0 } as Sample,
    ]),
  );
  for (let i = 0; i < kids.length; i++) {
    for (const t of rotate(tools, i)) {
      await t.prepare(kids[i].laptop);
      await run('sync', []);
      const s = await t.backup(kids[i].laptop);
      const a = total.get(t.name)!;
      a.wall += s.wall;
      a.cpu += s.cpu;
      a.rss = Math.max(a.rss, s.rss);
      a.wire = s.wire === null || a.wire === null ? null : a.wire + s.wire;
      a.serverRss = Math.max(a.serverRss ?? 0, s.serverRss ?? 0) || null;
      a.serverCpu = (a.serverCpu ?? 0) + (s.serverCpu ?? 0);
    }
  }
  for (const t of tools) {
    const s = total.get(t.name)!;
    opts.log(
      `  classroom ${t.name}: ${s.wall.toFixed(1)} s total, wire ${s.wire === null ? '-' : (s.wire / 1e6).toFixed(1) + ' MB'}`,
    );
    rows.push({ scenario: 'classroom', size: `${laptops}×${entries}`, tool: t.name, runs: [s], corpus: info });
    await t.reset();
  }
  for (const k of kids) rmSync(k.laptop.profile, { recursive: true, force: true });
}

/** The big-file scenarios (large.ts) on a 20-entry Journal holding one 50 MB file. */
async function large(opts: BenchOptions, tools: Tool[], want: Set<ScenarioName>, rows: Row[]): Promise<void> {
  const { laptop, info } = corpus(opts, 'large', 20, { seed: 'large' });
  const base0 = randomish(LARGE_BYTES, 'large file');
  const incremental = tools.filter((t) => t.name !== 'cp');
  const fresh = async () => {
    writeFileSync(bigFilePath(laptop), base0);
    for (const t of incremental) {
      await t.reset();
      await t.prepare(laptop);
      await t.backup(laptop);
    }
  };
  const base = (scenario: ScenarioName) => ({
    scenario,
    size: '50 MB',
    corpus: { ...info, bytes: info.bytes + LARGE_BYTES },
  });
  const path = () => bigFilePath(laptop);
  if (want.has('edit-large') || want.has('insert-large')) await fresh();
  if (want.has('edit-large'))
    await repeat(
      opts,
      incremental,
      rows,
      base('edit-large'),
      async (rep) => overwrite(path(), LARGE_BYTES / 2 + rep * 7919, `edit-${rep}`),
      (t) => t.backup(laptop),
    );
  if (want.has('insert-large'))
    await repeat(
      opts,
      incremental,
      rows,
      base('insert-large'),
      async (rep) => insert(path(), 1000 + rep * 4096, `insert-${rep}`),
      (t) => t.backup(laptop),
    );
  if (want.has('versions-large'))
    await repeat(
      opts,
      incremental,
      rows,
      base('versions-large'),
      async () => {},
      async (t) => {
        writeFileSync(path(), base0);
        await t.reset();
        await t.prepare(laptop);
        await t.backup(laptop);
        return tenVersions(t, laptop, join(opts.work, 'dest', t.name), rows.length);
      },
    );
  for (const t of tools) await t.reset();
  rmSync(laptop.profile, { recursive: true, force: true });
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const want = new Set(opts.scenarios);
  mkdirSync(opts.work, { recursive: true });
  const opened: Tool[] = [];
  try {
    const tools = await makeTools(opts, opts.tools, notes);
    opened.push(...tools);
    if (['first', 'nochange', 'change1', 'restore'].some((s) => want.has(s as ScenarioName))) {
      opts.log(`== 1× (${opts.entries} entries)`);
      await suite(opts, tools, '1×', opts.entries, want, rows);
    }
    if (want.has('classroom')) {
      opts.log(`== classroom (${opts.classroom.laptops} laptops × ${opts.classroom.entries} entries)`);
      await classroom(
        opts,
        tools.filter((t) => t.name === 'rsync' || t.name === 'ds-backup'),
        rows,
      );
    }
    if (LARGE_SCENARIOS.some((s) => want.has(s))) {
      opts.log('== big file (50 MB)');
      await large(opts, tools, want, rows);
    }
    if (want.has('scaling')) {
      const scaling = tools.filter((t) => opts.scalingTools.includes(t.name) && t.name !== 'cp');
      for (const f of opts.factors) {
        opts.log(`== ${f}× (${opts.entries * f} entries)`);
        await suite(opts, scaling, `${f}×`, opts.entries * f, new Set(['nochange', 'change1']), rows);
      }
    }
  } finally {
    for (const t of opened) await t.close().catch(() => {});
  }
  return { rows, notes };
}
