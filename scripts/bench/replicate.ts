/**
 * replicate — the off-site copy benchmark (issue 12): `ds-backup-server
 * replicate` against `rclone sync` of the store folder, to the same real S3
 * (OpenStack Swift + s3api, scripts/s3/swift-s3.sh), in one run.
 *
 *  first   a school's store (the 1× corpus backed up by the real agent) to an
 *          empty bucket: ds-backup encrypts and names every object; rclone
 *          copies the folder as it is (no encryption, no cross-school dedupe)
 *  daily   mutateJournal changes 1 % of the entries (+2 new), the laptop backs
 *          up, then both copy again: ds-backup from its sent log, rclone by
 *          listing both sides and comparing
 *  district  two schools whose Journals share 40 % of their entries (the
 *          generator's sharedPool, as the classroom scenario), replicated
 *          with one key to one bucket: the second school's first run sends
 *          only what the district lacks
 *
 * Requests and bytes sent are counted by a small HTTP proxy in front of Swift
 * that both tools go through (every request, and every request-body byte), so
 * the two are counted the same way. ds-backup runs without its bandwidth cap
 * and outside-window check (--now --bandwidth 0); rclone runs with
 * --transfers 12 (ds-backup's 12 uploads in flight) and skips ds-backup's own
 * replica/ folder and the store's reserve file (zeros kept for a full disk).
 * The school's server keeps running (as in a school), its daily job included.
 * Each run starts from empty buckets; figures are medians.
 */
import { createServer, request, Agent, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { writeProfile } from '../../src/journal/gen/generator.js';
import { mutateJournal } from '../../src/journal/gen/mutate.js';
import { makeS3Client } from '../../src/server/replica/s3.js';
import { startS3 } from '../../test/helpers/s3.js';
import { DsBackupTool, REPO } from './dsbackup.js';
import { freePort, median, timed } from './measure.js';
import type { Laptop } from './peers.js';

export interface ReplicateBenchOptions {
  work: string;
  entries: number;
  scale: 'reference' | 'small';
  runs: number;
  log: (line: string) => void;
}

export interface Measured {
  wall: number;
  bytes: number;
  requests: number;
}

export interface ReplicateBenchResult {
  corpus: { entries: number; files: number; bytes: number };
  district: { entries: number; shared: number };
  first: { ds: Measured[]; rclone: Measured[] };
  daily: { ds: Measured[]; rclone: Measured[] };
  schools: Array<{ a: number; b: number }>;
}

const SERVER = join(REPO, 'bin', 'ds-backup-server.js');
const KEY = 'd1'.repeat(32);

/** Counts requests and request-body bytes on their way to Swift. */
async function countingProxy(
  upstreamPort: number,
): Promise<{ port: number; take(): { requests: number; bytes: number }; server: Server; agent: Agent }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    requests++;
    req.on('data', (b: Buffer) => (bytes += b.length));
    const up = request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    port,
    server,
    agent,
    take() {
      const r = { requests, bytes };
      requests = bytes = 0;
      return r;
    },
  };
}

/** A school: its laptop's corpus backed up into a running server's store (closed at the end). */
async function school(
  opts: ReplicateBenchOptions,
  tools: DsBackupTool[],
  tag: string,
  entries: number,
  shared?: boolean,
) {
  const profile = join(opts.work, 'corpus', tag);
  rmSync(profile, { recursive: true, force: true });
  const s = writeProfile(profile, {
    seed: `replicate-${tag}`,
    entries,
    scale: opts.scale,
    ...(shared ? { sharedPool: { seed: 'district', fraction: 0.4 } } : {}),
  });
  const laptop: Laptop = { label: tag, profile, datastore: join(profile, 'datastore') };
  const tool = new DsBackupTool(join(opts.work, 'dest', `replica-${tag}`));
  await tool.reset();
  await tool.prepare(laptop);
  await tool.backup(laptop);
  tools.push(tool);
  opts.log(`school ${tag}: ${s.entries.length} entries, ${s.files} files, ${(s.bytes / 1e6).toFixed(0)} MB backed up`);
  return {
    laptop,
    tool,
    store: join(tool.root, 'server'),
    info: { entries: s.entries.length, files: s.files, bytes: s.bytes },
  };
}

export async function replicateBench(opts: ReplicateBenchOptions): Promise<ReplicateBenchResult> {
  const s3 = await startS3();
  if (s3.skip) throw new Error(s3.skip);
  const proxy = await countingProxy(Number(new URL(s3.endpoint).port));
  const endpoint = `http://127.0.0.1:${proxy.port}`;
  const env = { ...process.env, ...s3.env, AWS_ENDPOINT_URL: endpoint, DSB_REPLICA_KEY: KEY };
  // (AWS_CA_BUNDLE, when set for https, makes rclone refuse its plain-http transport)
  const { AWS_CA_BUNDLE: _ca, ...base } = process.env;
  const rcloneEnv = {
    ...base,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_S3_PROVIDER: 'Other',
    RCLONE_S3_ENDPOINT: endpoint,
    RCLONE_S3_REGION: 'us-east-1',
    RCLONE_S3_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID,
    RCLONE_S3_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY,
    RCLONE_S3_FORCE_PATH_STYLE: 'true',
  };
  Object.assign(process.env, s3.env);
  const client = makeS3Client();
  const bucket = async (name: string) => {
    await client.send(new CreateBucketCommand({ Bucket: name }));
    proxy.take();
  };
  const ours = async (store: string, replica: string): Promise<Measured> => {
    proxy.take();
    const { sample, stdout } = await timed(
      SERVER,
      ['replicate', '--now', '--bandwidth', '0', '--root', store, '--replica', replica, '--json'],
      { env },
    );
    const c = proxy.take();
    const r = JSON.parse(stdout) as { bytes: number };
    if (Math.abs(r.bytes - c.bytes) > c.bytes * 0.01 + 1e5)
      opts.log(`  (ds-backup says ${r.bytes} bytes, proxy ${c.bytes})`);
    return { wall: sample.wall, ...c };
  };
  const theirs = async (store: string, target: string): Promise<Measured> => {
    proxy.take();
    const { sample } = await timed(
      'rclone',
      [
        'sync',
        store,
        target,
        '--transfers',
        '12',
        '--exclude',
        '/replica/**',
        '--exclude',
        '/replica-key',
        '--exclude',
        '/reserve',
      ],
      { env: rcloneEnv },
    );
    return { wall: sample.wall, ...proxy.take() };
  };
  const show = (what: string, m: Measured) =>
    opts.log(`  ${what}: ${m.wall.toFixed(2)} s, ${(m.bytes / 1e6).toFixed(2)} MB sent, ${m.requests} requests`);
  const res: ReplicateBenchResult = {
    corpus: { entries: 0, files: 0, bytes: 0 },
    district: { entries: 0, shared: 0.4 },
    first: { ds: [], rclone: [] },
    daily: { ds: [], rclone: [] },
    schools: [],
  };
  const tools: DsBackupTool[] = [];
  try {
    const a = await school(opts, tools, 'school', opts.entries);
    res.corpus = a.info;
    for (let rep = 0; rep < opts.runs; rep++) {
      rmSync(join(a.store, 'replica'), { recursive: true, force: true });
      await bucket(`ds-r${rep}`);
      await bucket(`rc-r${rep}`);
      const order = rep % 2 ? ['rclone', 'ds'] : ['ds', 'rclone'];
      for (const who of order) {
        const m =
          who === 'ds' ? await ours(a.store, `s3://ds-r${rep}/school`) : await theirs(a.store, `:s3:rc-r${rep}/school`);
        res.first[who as 'ds' | 'rclone'].push(m);
        show(`first #${rep + 1} ${who === 'ds' ? 'ds-backup' : 'rclone'}`, m);
      }
      const changed = mutateJournal(a.laptop.datastore, { seed: `replicate-${rep}`, fraction: 0.01 });
      await a.tool.backup(a.laptop);
      opts.log(`  1 % change: ${changed.changed.length} changed, ${changed.added.length} added, backed up`);
      for (const who of order) {
        const m =
          who === 'ds' ? await ours(a.store, `s3://ds-r${rep}/school`) : await theirs(a.store, `:s3:rc-r${rep}/school`);
        res.daily[who as 'ds' | 'rclone'].push(m);
        show(`daily #${rep + 1} ${who === 'ds' ? 'ds-backup' : 'rclone'}`, m);
      }
    }
    await a.tool.close();

    const half = Math.max(8, Math.round(opts.entries / 2));
    const sa = await school(opts, tools, 'school-a', half, true);
    const sb = await school(opts, tools, 'school-b', half, true);
    res.district.entries = half;
    for (let rep = 0; rep < opts.runs; rep++) {
      for (const s of [sa, sb]) rmSync(join(s.store, 'replica'), { recursive: true, force: true });
      await bucket(`district-r${rep}`);
      const ma = await ours(sa.store, `s3://district-r${rep}/school-a`);
      const mb = await ours(sb.store, `s3://district-r${rep}/school-b`);
      res.schools.push({ a: ma.bytes, b: mb.bytes });
      opts.log(
        `  district #${rep + 1}: school A ${(ma.bytes / 1e6).toFixed(2)} MB, school B ${(mb.bytes / 1e6).toFixed(2)} MB (${(mb.bytes / ma.bytes).toFixed(2)}×)`,
      );
    }
    for (const s of [a, sa, sb]) rmSync(s.laptop.profile, { recursive: true, force: true });
  } finally {
    for (const t of tools) await t.close().catch(() => {});
    proxy.server.closeAllConnections();
    await new Promise<void>((ok) => proxy.server.close(() => ok()));
    proxy.agent.destroy();
    client.destroy();
    await s3.stop();
  }
  return res;
}

const med = (xs: Measured[], k: keyof Measured) => (xs.length ? median(xs.map((x) => x[k])) : NaN);

export interface ReplicateGoal {
  what: string;
  ok: boolean;
  value: string;
}

/** The goals: daily ≤ 0.5 × rclone's time and ≤ rclone's bytes; school B ≤ 0.65 × school A's bytes. */
export function replicateGoals(r: ReplicateBenchResult): ReplicateGoal[] {
  const t = med(r.daily.ds, 'wall') / med(r.daily.rclone, 'wall');
  const b = med(r.daily.ds, 'bytes') / med(r.daily.rclone, 'bytes');
  const s = median(r.schools.map((x) => x.b / x.a));
  return [
    { what: 'daily 1 % change: time ≤ 0.5 × rclone sync', ok: t <= 0.5, value: `${t.toFixed(2)}×` },
    { what: 'daily 1 % change: bytes ≤ 1 × rclone sync', ok: b <= 1, value: `${b.toFixed(2)}×` },
    { what: "second school's first replication: bytes ≤ 0.65 × the first's", ok: s <= 0.65, value: `${s.toFixed(2)}×` },
  ];
}

export function replicateMarkdown(r: ReplicateBenchResult, runs: number): string {
  const row = (what: string, tool: string, xs: Measured[]) =>
    `| ${what} | ${tool} | ${med(xs, 'wall').toFixed(2)} | ${(med(xs, 'bytes') / 1e6).toFixed(2)} | ${Math.round(med(xs, 'requests'))} |`;
  const mb = (x: number) => (x / 1e6).toFixed(2);
  return [
    `Corpus: ${r.corpus.entries} entries, ${r.corpus.files} files, ${mb(r.corpus.bytes)} MB (one laptop's Journal in a school's store); ${runs} runs, medians.`,
    '',
    '| scenario | tool | time (s) | MB sent | requests |',
    '|---|---|---:|---:|---:|',
    row('first replication', 'ds-backup', r.first.ds),
    row('first replication', 'rclone sync', r.first.rclone),
    row('daily (1 % changed)', 'ds-backup', r.daily.ds),
    row('daily (1 % changed)', 'rclone sync', r.daily.rclone),
    '',
    `District: two schools of ${r.district.entries} entries each sharing 40 % of their entries, one key, one bucket: ` +
      `school A sent ${mb(median(r.schools.map((x) => x.a)))} MB, school B ${mb(median(r.schools.map((x) => x.b)))} MB (medians).`,
    '',
    '| goal | measured | met |',
    '|---|---:|:---:|',
    ...replicateGoals(r).map((g) => `| ${g.what} | ${g.value} | ${g.ok ? 'yes' : '**no**'} |`),
  ].join('\n');
}
