/**
 * crash — part 2: `kill -9` at a random moment of a backup (the server, or
 * the agent), of the cleanup/GC (the cleanup process), of a restore (the
 * agent, or the server) and of a legacy import (`import-legacy`). After
 * every trial the listed snapshots restore byte for byte (compared with what
 * the laptop held when each was taken): every one of them after every 10th
 * and the last trial, else the new ones, the newest per source and a random
 * sample (a restore per snapshot per trial costs hours at 100 trials); and
 * the interrupted job's next run succeeds.
 *
 * The legacy ingest is exercised through `import-legacy` (an old server's
 * dated folders; the same folder-ingest code as a live rsync completion).
 * The live path (sshd + rsync + completion flag) is not: it needs Unix
 * accounts named by serial that test/legacy.test.ts creates and collides on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateJournal } from '../../src/journal/gen/generator.js';
import { DATASTORE_EXCLUDES } from '../../src/snapshot/scan.js';
import { cleanup, fsState, NODE_FLAGS, REPO, serverCli, tmp } from '../../test/helpers/harness.js';
import { killHard } from './proc.js';
import { Rng } from './rng.js';
import { Tally, type PartResult } from './tally.js';
import {
  addLaptop,
  diffStates,
  listSnapshots,
  makeWorld,
  parallel,
  restoreDiff,
  sourceState,
  type Laptop,
  type World,
} from './world.js';

const SN = 'SHT0000021';
const OLD_SN = 'SHT0000022';
const KINDS = ['backup-server', 'backup-agent', 'cleanup', 'restore-agent', 'restore-server', 'import'] as const;
type Kind = (typeof KINDS)[number];

function child(
  bin: string,
  args: string[],
): { proc: ChildProcess; done: Promise<{ code: number | null; err: string }> } {
  const proc = spawn(process.execPath, [...NODE_FLAGS, join(REPO, 'bin', bin), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const done = new Promise<{ code: number | null; err: string }>((res) =>
    proc.on('exit', (code) => res({ code, err })),
  );
  return { proc, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Changes the laptop between backups: Documents files added, rewritten, removed; a Journal data file rewritten. */
function mutate(profile: string, rng: Rng): void {
  const docs = join(profile, 'Documents');
  mkdirSync(docs, { recursive: true });
  const names = readdirSync(docs).filter((n) => statSync(join(docs, n)).isFile());
  const r = rng.int(3);
  if (r === 0 || names.length < 2)
    writeFileSync(join(docs, `t${rng.hex(6)}.bin`), rng.bytes(rng.pick([10, 5000, 200_000, 1_300_000])));
  else if (r === 1) writeFileSync(join(docs, rng.pick(names)), rng.bytes(rng.pick([1, 3000, 70_000])));
  else rmSync(join(docs, rng.pick(names)));
  const data: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true }))
      if (n.isDirectory()) walk(join(d, n.name));
      else if (n.isFile() && n.name === 'data') data.push(join(d, n.name));
  };
  walk(join(profile, 'datastore'));
  if (data.length) writeFileSync(rng.pick(data), rng.bytes(rng.range(1, 40_000)));
}

interface CrashState {
  w: World;
  lap: Laptop;
  old: Laptop | null;
  oldUsers: string;
  /** Per laptop serial and snapshot name: what it must restore to. */
  expected: Map<string, Map<string, Map<string, string>>>;
  /** Per old folder name: its content as the import must keep it. */
  oldStates: Map<string, Map<string, string>>;
  backupMs: number;
  /** serial/name of snapshots restored byte for byte at least once. */
  checked: Set<string>;
}

async function recordNew(
  s: CrashState,
  lap: Laptop,
  before: Set<string>,
  states: Record<string, Map<string, string>>,
): Promise<void> {
  const exp = s.expected.get(lap.serial) ?? new Map<string, Map<string, string>>();
  s.expected.set(lap.serial, exp);
  for (const snap of await listSnapshots(lap)) if (!before.has(snap.name)) exp.set(snap.name, states[snap.source]);
}

const statesOf = (profile: string) => ({
  datastore: sourceState(profile, 'datastore'),
  documents: sourceState(profile, 'documents'),
});

async function backupTrial(s: CrashState, rng: Rng, killAgent: boolean): Promise<void> {
  mutate(s.lap.profile, rng);
  const states = statesOf(s.lap.profile);
  const before = new Set((await listSnapshots(s.lap)).map((x) => x.name));
  const run = child('ds-backup.js', ['backup', '--profile', s.lap.profile]);
  await sleep(rng.int(Math.max(50, s.backupMs)));
  if (killAgent) await killHard(run.proc);
  else await s.w.srv.kill9();
  const r = await run.done;
  if (!killAgent) {
    if (r.code !== 0 && r.code !== 1) throw new Error(`agent ended with ${r.code} when the server died: ${r.err}`);
    await s.w.restart();
  }
  await recordNew(s, s.lap, before, states);
  // The next run succeeds.
  const again = await child('ds-backup.js', ['backup', '--profile', s.lap.profile]).done;
  if (again.code !== 0) throw new Error(`the backup after the kill failed (${again.code}): ${again.err}`);
  const before2 = new Set([...(s.expected.get(s.lap.serial)?.keys() ?? [])]);
  await recordNew(s, s.lap, before2, states);
}

async function cleanupTrial(s: CrashState, rng: Rng): Promise<void> {
  const now = new Date(Date.now() + rng.range(1, 400) * 86_400_000).toISOString();
  const args = ['cleanup', '--root', s.w.root, '--force', '--now', now, ...(rng.chance(0.5) ? ['--full-gc'] : [])];
  const run = child('ds-backup-server.js', args);
  await sleep(rng.int(3000));
  await killHard(run.proc);
  await run.done;
  const again = await child('ds-backup-server.js', args).done;
  if (again.code !== 0) throw new Error(`the cleanup after the kill failed (${again.code}): ${again.err}`);
}

async function restoreTrial(s: CrashState, rng: Rng, killServer: boolean): Promise<void> {
  const snaps = await listSnapshots(s.lap);
  const snap = rng.pick(snaps);
  const out = tmp('torture-crash-restore');
  try {
    const args = ['restore', '--profile', s.lap.profile, '--all', '--snapshot', snap.name, '--to', out];
    const run = child('ds-backup.js', args);
    await sleep(rng.int(1500));
    if (killServer) await s.w.srv.kill9();
    else await killHard(run.proc);
    await run.done;
    if (killServer) await s.w.restart();
    const again = await child('ds-backup.js', args).done;
    if (again.code !== 0) throw new Error(`the restore after the kill failed (${again.code}): ${again.err}`);
    const want = s.expected.get(s.lap.serial)?.get(snap.name);
    if (!want) throw new Error(`listed snapshot ${snap.name} has no recorded content`);
    const d = diffStates(want, fsState(join(out, snap.source)));
    if (d.length) throw new Error(`resumed restore of ${snap.name} differs: ${d.join('; ')}`);
  } finally {
    cleanup(out);
  }
}

/** Adds a dated folder to the old server's users/ (a changed copy of the last one) and imports, killed at random. */
async function importTrial(s: CrashState, rng: Rng, n: number): Promise<void> {
  const dir = join(s.oldUsers, OLD_SN);
  const t = new Date(Date.UTC(2013, 0, 1, 8, 0) + n * 3_600_000);
  const name = `datastore-${t.toISOString().slice(0, 10)}_${t.toISOString().slice(11, 16)}`;
  const prev = existsSync(dir) ? readdirSync(dir).sort().at(-1) : undefined;
  if (prev) cpSync(join(dir, prev), join(dir, name), { recursive: true, preserveTimestamps: true });
  else generateJournal(join(dir, name), { seed: `old-${rng.hex(4)}`, entries: 6 });
  writeFileSync(join(dir, name, `note-${n}`), rng.bytes(rng.range(1, 3000)));
  s.oldStates.set(name, fsState(join(dir, name), [...DATASTORE_EXCLUDES]));
  const args = ['import-legacy', s.oldUsers, '--root', s.w.root];
  const run = child('ds-backup-server.js', args);
  await sleep(rng.int(2500));
  await killHard(run.proc);
  await run.done;
  const again = await child('ds-backup-server.js', args).done;
  if (again.code !== 0) throw new Error(`import-legacy after the kill failed (${again.code}): ${again.err}`);
  if (!s.old) s.old = await nativeProfile(s, OLD_SN);
  const exp = s.expected.get(OLD_SN) ?? new Map<string, Map<string, string>>();
  s.expected.set(OLD_SN, exp);
  for (const [k, v] of s.oldStates) exp.set(k, v);
}

/** A profile that lets the real agent list and restore an imported serial (`device token`). */
async function nativeProfile(s: CrashState, serial: string): Promise<Laptop> {
  const tok = await serverCli(['device', 'token', serial, '--root', s.w.root]);
  if (tok.code !== 0) throw new Error(`device token: ${tok.stderr}`);
  const profile = tmp('torture-old');
  mkdirSync(join(profile, 'ds-backup'), { recursive: true });
  const token = tok.stdout.trim().split(/\s+/).at(-1)!;
  writeFileSync(
    join(profile, 'ds-backup', 'config.json'),
    JSON.stringify({ server: s.w.srv.url, serial, nickname: 'old', token }),
    {
      mode: 0o600,
    },
  );
  return { serial, profile, token, code: '' };
}

/**
 * Listed snapshots of every laptop restore byte for byte: all of them when
 * `full`, else those made since the last check, the newest of each source
 * and `sample` others at random (a full check costs a restore per snapshot).
 */
async function checkAll(s: CrashState, t: Tally, rng: Rng, full: boolean, sample = 2): Promise<void> {
  for (const lap of [s.lap, s.old]) {
    if (!lap) continue;
    const exp = s.expected.get(lap.serial) ?? new Map();
    const listed = await listSnapshots(lap);
    for (const snap of listed)
      if (!exp.has(snap.name)) throw new Error(`${lap.serial}: listed snapshot ${snap.name} has no recorded content`);
    const newest = new Set([...new Map(listed.map((x) => [x.source, x.name])).values()]);
    const fresh = listed.filter((x) => !s.checked.has(`${lap.serial}/${x.name}`));
    const others = listed.filter((x) => !newest.has(x.name) && !fresh.includes(x));
    const pick = full
      ? listed
      : [...listed.filter((x) => newest.has(x.name) || fresh.includes(x)), ...pickSome(others, sample, rng)];
    await parallel(pick, 3, async (snap) => {
      const d = await restoreDiff(lap, snap, exp.get(snap.name)!);
      if (d.length) throw new Error(`${lap.serial} ${snap.name} does not restore byte for byte: ${d.join('; ')}`);
      s.checked.add(`${lap.serial}/${snap.name}`);
      t.count('snapshotRestores');
    });
  }
}

function pickSome<T>(xs: T[], n: number, rng: Rng): T[] {
  const a = [...xs];
  const out: T[] = [];
  while (out.length < n && a.length) out.push(a.splice(rng.int(a.length), 1)[0]);
  return out;
}

export async function runCrash(o: { seed: string; trials: number; log: (l: string) => void }): Promise<PartResult> {
  const t = new Tally('crash', o.seed, o.log);
  const rng = new Rng(`${o.seed}/crash`);
  const w = await makeWorld('crash', []);
  const t0 = Date.now();
  const lap = await addLaptop(w, { serial: SN, entries: 6, documents: true });
  const s: CrashState = {
    w,
    lap,
    old: null,
    oldUsers: tmp('torture-oldusers'),
    expected: new Map(),
    oldStates: new Map(),
    backupMs: Date.now() - t0,
    checked: new Set(),
  };
  await recordNew(s, lap, new Set(), statesOf(lap.profile));
  try {
    for (let i = 0; i < o.trials; i++) {
      const r = rng.fork(`trial${i}`);
      const kind: Kind = r.pick(KINDS);
      const repro = `--parts crash --trials ${i + 1}  # trial ${i}: kill -9 during ${kind}`;
      await t.check(repro, async () => {
        if (kind === 'backup-server' || kind === 'backup-agent') await backupTrial(s, r, kind === 'backup-agent');
        else if (kind === 'cleanup') await cleanupTrial(s, r);
        else if (kind === 'restore-agent' || kind === 'restore-server')
          await restoreTrial(s, r, kind === 'restore-server');
        else await importTrial(s, r, i);
        if (w.srv.died) throw new Error(`server died on its own: ${w.srv.stderr().slice(-2000)}`);
        // Every 10th trial and the last: every listed snapshot; else the new, the newest and a sample.
        await checkAll(s, t, r, i % 10 === 9 || i === o.trials - 1);
      });
      t.count('trials');
      t.count(`trials ${kind}`);
      o.log(
        `crash: trial ${i} (${kind}) done; ${t.failures.length} failures so far, ${t.counts.snapshotRestores ?? 0} restores`,
      );
      if (t.failures.length && w.srv.died) await w.restart();
    }
  } finally {
    await w.close();
    cleanup(s.oldUsers, s.old?.profile ?? '');
  }
  return t.result();
}
