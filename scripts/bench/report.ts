/**
 * report — turns benchmark rows into the table, the goal checks, the results
 * JSON and BENCHMARKS.md. Every figure is the median over the runs; ratios
 * are ds-backup's median divided by the peer's median on the same scenario
 * and size. Goals are the issue's (#7), checked as pure functions of rows.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, release } from 'node:os';
import { median, type Sample } from './measure.js';
import type { Row, ScenarioName } from './scenarios.js';
import type { ToolName } from './peers.js';

export interface Summary {
  scenario: ScenarioName;
  size: string;
  tool: ToolName;
  runs: number;
  wall: number;
  wire: number | null;
  cpu: number;
  rss: number;
  serverRss: number | null;
  serverCpu: number | null;
  extra: Record<string, number>;
}

export function summarize(r: Row): Summary {
  const m = (f: (s: Sample) => number | null | undefined) => {
    const xs = r.runs.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    return xs.length ? median(xs) : null;
  };
  const keys = new Set(r.runs.flatMap((s) => Object.keys(s.extra ?? {})));
  const extra: Record<string, number> = {};
  for (const k of keys) extra[k] = m((s) => s.extra?.[k]) ?? NaN;
  return {
    scenario: r.scenario,
    size: r.size,
    tool: r.tool,
    runs: r.runs.length,
    wall: m((s) => s.wall) ?? NaN,
    wire: m((s) => s.wire),
    cpu: m((s) => s.cpu) ?? NaN,
    rss: m((s) => s.rss) ?? NaN,
    serverRss: r.runs.some((s) => typeof s.serverRss === 'number')
      ? Math.max(...r.runs.map((s) => s.serverRss ?? 0))
      : null,
    serverCpu: m((s) => s.serverCpu),
    extra,
  };
}

export interface Goal {
  what: string;
  ok: boolean | null;
  value: string;
}

const LABEL: Record<ScenarioName, string> = {
  first: 'first backup',
  nochange: 'no change',
  change1: '1 % changed',
  restore: 'restore all',
  classroom: 'classroom',
  scaling: 'scaling',
  'edit-large': '100 B edit of 50 MB',
  'insert-large': '4 KB insert in 50 MB',
  'versions-large': '10 versions of 50 MB',
};

function find(s: Summary[], scenario: ScenarioName, size: string, tool: ToolName): Summary | undefined {
  return s.find((x) => x.scenario === scenario && x.size === size && x.tool === tool);
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

/** The issue's goals, checked against the summaries (null = not measured). */
export function goals(s: Summary[]): Goal[] {
  const out: Goal[] = [];
  const rel = (scenario: ScenarioName, size: string, peer: ToolName, metric: 'wall' | 'wire', max: number) => {
    const ds = find(s, scenario, size, 'ds-backup');
    const p = find(s, scenario, size, peer);
    const r = ratio(ds?.[metric], p?.[metric]);
    out.push({
      what: `${LABEL[scenario]}: ${metric === 'wall' ? 'time' : 'bytes'} ≤ ${max} × ${peer}`,
      ok: r === null ? null : r <= max,
      value: r === null ? 'not measured' : `${r.toFixed(2)}×`,
    });
  };
  rel('first', '1×', 'rsync', 'wall', 0.8);
  rel('first', '1×', 'restic', 'wall', 1.0);
  rel('first', '1×', 'cp', 'wall', 1.5);
  rel('nochange', '1×', 'rsync', 'wall', 0.4);
  rel('change1', '1×', 'rsync', 'wire', 1.0);
  rel('change1', '1×', 'rsync', 'wall', 0.5);
  const room = s.find((x) => x.scenario === 'classroom');
  if (room) rel('classroom', room.size, 'rsync', 'wire', 0.65);
  else out.push({ what: 'classroom: bytes ≤ 0.65 × rsync', ok: null, value: 'not measured' });
  rel('restore', '1×', 'rsync', 'wall', 1.0);
  rel('edit-large', '50 MB', 'rsync', 'wire', 3.0);
  rel('insert-large', '50 MB', 'rsync', 'wire', 3.0);
  const growth = find(s, 'versions-large', '50 MB', 'ds-backup')?.extra.growth;
  out.push({
    what: '10 versions of 50 MB: stored ≤ 1.2 × one copy',
    ok: growth === undefined || Number.isNaN(growth) ? null : 1 + growth <= 1.2,
    value:
      growth === undefined
        ? 'not measured'
        : `${(1 + growth).toFixed(3)} × (ten versions grew ${growth.toFixed(3)} copies)`,
  });
  const ds1 = s.filter((x) => x.tool === 'ds-backup' && x.size === '1×');
  const maxOf = (f: (x: Summary) => number | null) => (ds1.length ? Math.max(...ds1.map((x) => f(x) ?? 0)) : null);
  const agent = maxOf((x) => x.rss);
  const server = maxOf((x) => x.serverRss);
  out.push({
    what: 'agent peak RSS ≤ 80 MB (1×)',
    ok: agent === null ? null : agent <= 80e6,
    value: agent === null ? 'not measured' : `${(agent / 1e6).toFixed(0)} MB`,
  });
  out.push({
    what: 'server peak RSS ≤ 150 MB (1×)',
    ok: server === null ? null : server <= 150e6,
    value: server === null ? 'not measured' : `${(server / 1e6).toFixed(0)} MB`,
  });
  const commitMs = find(s, 'first', '1×', 'ds-backup')?.extra.commitMs;
  out.push({
    what: 'server commit of the full 1× snapshot ≤ 0.5 s',
    ok: commitMs === undefined || Number.isNaN(commitMs) ? null : commitMs <= 500,
    value: commitMs === undefined ? 'not measured' : `${(commitMs / 1000).toFixed(2)} s`,
  });
  return out;
}

const mb = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : (x / 1e6).toFixed(1));
const sec = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(2));

/** ds-backup's time (and bytes, when both have them) relative to this peer. */
function vsCell(s: Summary[], x: Summary): string {
  const g = x.extra.growth;
  const growth = g !== undefined && Number.isFinite(g) ? `grew ${g.toFixed(3)} copies` : '';
  if (growth && x.tool === 'ds-backup') return growth;
  if (growth) return [growth, vsCellPeer(s, x)].filter(Boolean).join(', ');
  return vsCellPeer(s, x);
}

function vsCellPeer(s: Summary[], x: Summary): string {
  if (x.tool === 'ds-backup') {
    const c = x.extra.commitMs;
    return c !== undefined && Number.isFinite(c) ? `commit ${Math.round(c)} ms` : '';
  }
  const ds = find(s, x.scenario, x.size, 'ds-backup');
  if (!ds) return '';
  const t = ratio(ds.wall, x.wall);
  const b = ratio(ds.wire, x.wire);
  return [t === null ? null : `time ${t.toFixed(2)}×`, b === null ? null : `bytes ${b.toFixed(2)}×`]
    .filter(Boolean)
    .join(', ');
}

export function markdownTable(s: Summary[]): string {
  const head =
    '| scenario | size | tool | runs | wall s (median) | wire MB | client CPU s | client peak RSS MB | server peak RSS MB | ds-backup vs this tool |';
  const lines = [head, '|---|---|---|---|---|---|---|---|---|---|'];
  for (const x of s) {
    lines.push(
      `| ${LABEL[x.scenario]} | ${x.size} | ${x.tool} | ${x.runs} | ${sec(x.wall)} | ${mb(x.wire)} | ${sec(x.cpu)} | ${mb(x.rss)} | ${mb(x.serverRss)} | ${vsCell(s, x)} |`,
    );
  }
  return lines.join('\n');
}

export function goalTable(g: Goal[]): string {
  return [
    '| goal | measured | met |',
    '|---|---|---|',
    ...g.map((x) => `| ${x.what} | ${x.value} | ${x.ok === null ? '—' : x.ok ? 'yes' : '**no**'} |`),
  ].join('\n');
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync('sh', ['-c', `${cmd} ${args.map((a) => `'${a}'`).join(' ')} 2>&1`], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return '?';
  }
}

export function machine(path: string): Record<string, string> {
  const df = sh('df', ['-h', '--output=source,fstype,size,avail', path]).split('\n').pop() ?? '?';
  return {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    disk: df.replace(/\s+/g, ' '),
    kernel: release(),
    node: process.version,
    rsync: sh('rsync', ['--version']).split('\n')[0],
    restic: sh('restic', ['version']),
    ssh: sh('ssh', ['-V']),
  };
}
