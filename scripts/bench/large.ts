/**
 * large — the big-file scenarios of issue #13, run the same way for every tool.
 *
 * One small Journal (20 entries) whose first entry's data file is a 50 MB
 * random file (incompressible: no tool wins by compressing). Each tool backs
 * it up once untimed, then:
 *  edit-large      overwrite 100 bytes in the middle, back up (timed)
 *  insert-large    insert 4 KB near the start (every later byte shifts), back up
 *  versions-large  ten backups, each after a 100-byte overwrite somewhere;
 *                  one sample = the ten together, with extra.growth = how much
 *                  the destination grew over the ten, in copies of the file
 *                  (1.0 = a whole extra copy; goal ≤ 1.2 for ten versions)
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Sample } from './measure.js';
import { dirBytes, type Laptop, type Tool } from './peers.js';

export const LARGE_BYTES = 50 * 1000 * 1000;

/** Deterministic incompressible bytes. */
export function randomish(n: number, seed: string): Buffer {
  const out = Buffer.allocUnsafe(n);
  let block = createHash('sha512').update(seed).digest();
  for (let at = 0; at < n; at += 64) {
    block.copy(out, at, 0, Math.min(64, n - at));
    block = createHash('sha512').update(block).digest();
  }
  return out;
}

/** The first entry's data file of a generated Journal. */
export function bigFilePath(l: Laptop): string {
  const prefix = readdirSync(l.datastore)
    .filter((d) => d.length === 2)
    .sort()[0];
  const uid = readdirSync(join(l.datastore, prefix)).sort()[0];
  return join(l.datastore, prefix, uid, 'data');
}

export function overwrite(path: string, at: number, seed: string): void {
  const b = readFileSync(path);
  randomish(100, seed).copy(b, at);
  writeFileSync(path, b);
}

export function insert(path: string, at: number, seed: string): void {
  const b = readFileSync(path);
  writeFileSync(path, Buffer.concat([b.subarray(0, at), randomish(4096, seed), b.subarray(at)]));
}

/** Ten small edits, each backed up: one aggregate sample with extra.growth (copies of the file). */
export async function tenVersions(t: Tool, l: Laptop, dest: string, rep: number): Promise<Sample> {
  const path = bigFilePath(l);
  const before = dirBytes(dest);
  const total: Sample = { wall: 0, cpu: 0, rss: 0, wire: 0, serverRss: null, serverCpu: 0 };
  for (let v = 0; v < 10; v++) {
    overwrite(path, Math.floor(((v + 1) * LARGE_BYTES) / 12), `version-${rep}-${v}`);
    const s = await t.backup(l);
    total.wall += s.wall;
    total.cpu += s.cpu;
    total.rss = Math.max(total.rss, s.rss);
    total.wire = s.wire === null || total.wire === null ? null : total.wire + s.wire;
    total.serverRss = Math.max(total.serverRss ?? 0, s.serverRss ?? 0) || null;
    total.serverCpu = (total.serverCpu ?? 0) + (s.serverCpu ?? 0);
  }
  total.extra = { growth: (dirBytes(dest) - before) / LARGE_BYTES };
  return total;
}
