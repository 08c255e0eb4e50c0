/**
 * enospc — part 3: the server's store on a small tmpfs (as
 * test/disk-full.test.ts makes it; needs root). Backups meet ENOSPC in a
 * resumable upload (one big file) or in batches (many files): the agent
 * exits 6 saying "disk full", the aborted backup leaves no partial upload,
 * and every listed snapshot still restores byte for byte. The cleanup runs
 * on a completely full disk, exits 0 and frees space; once the filler is
 * gone the next backup succeeds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskUsage } from '../../src/platform/system.js';
import { agent, cleanup, serverCli, tmp } from '../../test/helpers/harness.js';
import { Rng } from './rng.js';
import { Tally, type PartResult } from './tally.js';
import { addLaptop, listSnapshots, makeWorld, restoreDiff, sourceState, type Laptop, type World } from './world.js';

const SN = 'SHT0000041';
const MiB = 1024 * 1024;

type Expected = Map<string, Map<string, string>>;

async function record(lap: Laptop, exp: Expected, before: Set<string>): Promise<void> {
  const states = { datastore: sourceState(lap.profile, 'datastore'), documents: sourceState(lap.profile, 'documents') };
  for (const s of await listSnapshots(lap))
    if (!before.has(s.name)) exp.set(s.name, states[s.source as 'datastore' | 'documents']);
}

async function nothingLost(lap: Laptop, exp: Expected, t: Tally): Promise<void> {
  for (const s of await listSnapshots(lap)) {
    const want = exp.get(s.name);
    if (!want) throw new Error(`listed snapshot ${s.name} has no recorded content`);
    const d = await restoreDiff(lap, s, want);
    if (d.length) throw new Error(`${s.name} does not restore byte for byte: ${d.join('; ')}`);
    t.count('snapshotRestores');
  }
}

async function fullBackup(w: World, lap: Laptop, rng: Rng, exp: Expected, t: Tally): Promise<void> {
  const free = diskUsage(w.root).freeBytes;
  const dir = join(lap.profile, 'Documents', 'fill');
  mkdirSync(dir, { recursive: true });
  const big = rng.chance(0.5);
  const total = free + rng.range(2, 8) * MiB;
  if (big) writeFileSync(join(dir, 'big.bin'), rng.bytes(total));
  else for (let i = 0; i * MiB < total; i++) writeFileSync(join(dir, `f${i}.bin`), rng.bytes(MiB));
  t.count(big ? 'fullDiskBigFile' : 'fullDiskManyFiles');
  try {
    const before = new Set((await listSnapshots(lap)).map((s) => s.name));
    const r = await agent(['backup', '--profile', lap.profile]);
    if (r.code !== 6 || !/disk full/i.test(r.stderr))
      throw new Error(
        `backup on a full disk (${big ? 'one big file' : 'many files'}): exit ${r.code}, ${r.stderr.trim()}; server: ${w.srv.stderr().slice(-1500)}`,
      );
    const parts = readdirSync(join(w.root, 'incoming')).filter((n) => n.endsWith('.part'));
    if (parts.length) throw new Error(`the aborted backup left partial uploads: ${parts.join(', ')}`);
    await record(lap, exp, before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fullCleanup(w: World, lap: Laptop, rng: Rng, exp: Expected, t: Tally, mnt: string): Promise<void> {
  const filler = join(mnt, 'filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=64'], { stdio: 'ignore' });
  } catch {
    /* ENOSPC: the disk is full, as wanted */
  }
  const free0 = diskUsage(w.root).freeBytes;
  const now = new Date(Date.now() + rng.range(100, 400) * 86_400_000).toISOString();
  const c = await serverCli(['cleanup', '--root', w.root, '--force', '--full-gc', '--now', now, '--json']);
  if (c.code !== 0) throw new Error(`cleanup on a full disk: exit ${c.code}: ${c.stderr.trim()}`);
  const free1 = diskUsage(w.root).freeBytes;
  t.max('cleanupFreedKiBMax', (free1 - free0) / 1024);
  if (free1 <= free0) throw new Error(`cleanup on a full disk freed nothing (${free0} → ${free1} bytes free)`);
  rmSync(filler, { force: true });
  writeFileSync(join(lap.profile, 'Documents', `after-${rng.hex(6)}.txt`), rng.bytes(rng.range(1, 20_000)));
  const before = new Set((await listSnapshots(lap)).map((s) => s.name));
  const r = await agent(['backup', '--profile', lap.profile]);
  if (r.code !== 0) throw new Error(`backup once space is back: exit ${r.code}: ${r.stderr.trim()}`);
  await record(lap, exp, before);
}

export async function runEnospc(o: { seed: string; trials: number; log: (l: string) => void }): Promise<PartResult> {
  const t = new Tally('enospc', o.seed, o.log);
  if (process.getuid?.() !== 0) {
    t.count('skippedNotRoot');
    o.log('enospc: skipped, mounting a tmpfs needs root');
    return t.result();
  }
  const rng = new Rng(`${o.seed}/enospc`);
  const mnt = tmp('torture-tmpfs');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]);
  let w: World | null = null;
  try {
    w = await makeWorld('enospc', [], { root: join(mnt, 'root'), args: ['--disk-limit', '100'] });
    const lap = await addLaptop(w, { serial: SN, entries: 5, documents: true });
    const exp: Expected = new Map();
    await record(lap, exp, new Set());
    for (let i = 0; i < o.trials; i++) {
      const r = rng.fork(`trial${i}`);
      const kind = i % 2 === 0 ? 'backup' : 'cleanup';
      await t.check(`--parts enospc --trials ${i + 1}  # trial ${i}: ${kind} on a full disk`, async () => {
        if (kind === 'backup') await fullBackup(w!, lap, r, exp, t);
        else await fullCleanup(w!, lap, r, exp, t, mnt);
        await nothingLost(lap, exp, t);
      });
      if (existsSync(join(mnt, 'filler'))) rmSync(join(mnt, 'filler'));
      t.count('trials');
    }
  } finally {
    await w?.close();
    execFileSync('umount', ['-l', mnt]);
    cleanup(mnt);
  }
  return t.result();
}
