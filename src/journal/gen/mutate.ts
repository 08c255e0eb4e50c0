/**
 * mutate — a day of a student's work on a generated layout-6 Journal.
 *
 * mutateJournal(dir, { seed, fraction }) edits round(fraction × entries)
 * entries (at least one when fraction > 0), chosen by a seeded shuffle of
 * the uids: the data file gets new bytes and a new size (written as a new
 * file, so a hard link to another entry is broken, as with Sugar), and the
 * metadata gets a new timestamp, mtime, filesize, checksum, preview and one
 * more launch. Entries with no data only get new times and a new preview.
 * When fraction > 0 it also adds 2 new entries, and when fraction ≥ 0.1
 * deletes one entry that was not edited. The fake index is rewritten too.
 *
 * Deterministic: same journal + same options → same result. `now` defaults to
 * one day after the newest entry. `scale` (for the new entries) defaults to
 * `reference` when some data file is over 8 KB, else `small`.
 * Metadata files are written Sugar's way: a `.key` temp file, then renamed.
 */
import * as fs from 'node:fs';
import { type Rng, rngFor } from './prng.js';
import { type Scale, dataBytes, kindOf, pickKind, previewBytes } from './kinds.js';
import { isoMtime, md5Hex, planEntry, writeFileAt } from './entry.js';
import { newCtx, writeEntry6, writeIndex, applyDirTimes, type WriteCtx } from './layout.js';
import { readJournal, type JournalEntryOnDisk } from '../reader.js';

export interface MutateOptions {
  seed: string;
  fraction: number;
  now?: number;
  scale?: Scale;
}

export interface MutateResult {
  changed: string[];
  added: string[];
  deleted: string[];
}

function shuffled<T>(rng: Rng, items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function setProp(dir: string, key: string, value: Buffer | string, t: number): void {
  const tmp = `${dir}/.${key}`;
  fs.writeFileSync(tmp, value);
  fs.utimesSync(tmp, t, t);
  fs.renameSync(tmp, `${dir}/${key}`);
}

function str(e: JournalEntryOnDisk, key: string): string {
  return e.metadata[key]?.toString('utf8') ?? '';
}

function removeMarker(ctx: WriteCtx, md5: string, uid: string): void {
  const dir = `${ctx.root}/checksums/${md5}`;
  fs.rmSync(`${dir}/${uid}`, { force: true });
  if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  else ctx.dirs.set(dir, ctx.now);
  ctx.dirs.set(`${ctx.root}/checksums`, ctx.now);
}

/** New data bytes for an edited entry; returns the new md5. */
function editData(ctx: WriteCtx, e: JournalEntryOnDisk, rng: Rng, t: number): { size: number; md5: string } {
  const path = e.dataPath!;
  const old = fs.statSync(path).size;
  const size =
    old === 0 ? rng.int(16, 2048) : Math.max(1, Math.round(old * (0.7 + rng.float() * 0.8)) + rng.int(1, 512));
  const bytes = dataBytes(rngFor(`${ctx.seed}/edit/${e.uid}`), kindOf(str(e, 'activity'), str(e, 'mime_type')), size);
  fs.rmSync(path);
  writeFileAt(path, bytes, t);
  const md5 = md5Hex(bytes);
  const oldSum = str(e, 'checksum');
  if (oldSum) removeMarker(ctx, oldSum, e.uid);
  const sumDir = `${ctx.root}/checksums/${md5}`;
  fs.mkdirSync(sumDir, { recursive: true });
  writeFileAt(`${sumDir}/${e.uid}`, '', ctx.now);
  ctx.dirs.set(sumDir, ctx.now).set(`${ctx.root}/checksums`, ctx.now);
  return { size, md5 };
}

function editEntry(ctx: WriteCtx, e: JournalEntryOnDisk, rng: Rng): void {
  const t = ctx.now - rng.int(0, 3600);
  const entryDir = `${ctx.root}/${e.uid.slice(0, 2)}/${e.uid}`;
  const meta = `${entryDir}/metadata`;
  if (e.dataPath) {
    const { size, md5 } = editData(ctx, e, rng, t);
    setProp(meta, 'filesize', String(size), t);
    setProp(meta, 'checksum', md5, t);
  }
  setProp(meta, 'timestamp', String(t), t);
  setProp(meta, 'mtime', isoMtime(t, rng), t);
  setProp(meta, 'preview', previewBytes(rngFor(`${ctx.seed}/preview/${e.uid}`), ctx.scale), t);
  const launches = str(e, 'launch-times');
  setProp(meta, 'launch-times', launches ? `${launches}, ${t}` : String(t), t);
  const spent = str(e, 'spent-times');
  setProp(meta, 'spent-times', spent ? `${spent}, ${rng.int(10, 3000)}` : String(rng.int(10, 3000)), t);
  ctx.dirs.set(entryDir, t).set(meta, t);
}

function deleteEntry(ctx: WriteCtx, e: JournalEntryOnDisk): void {
  const prefix = `${ctx.root}/${e.uid.slice(0, 2)}`;
  const sum = str(e, 'checksum');
  if (sum) removeMarker(ctx, sum, e.uid);
  fs.rmSync(`${prefix}/${e.uid}`, { recursive: true, force: true });
  if (fs.readdirSync(prefix).length === 0) fs.rmdirSync(prefix);
  else ctx.dirs.set(prefix, ctx.now);
}

function defaults(entries: JournalEntryOnDisk[], opts: MutateOptions): { now: number; scale: Scale } {
  const newest = Math.max(0, ...entries.map((e) => e.info.timestamp ?? 0));
  const big = entries.some((e) => e.dataPath !== null && fs.statSync(e.dataPath).size > 8192);
  return { now: opts.now ?? newest + 86400, scale: opts.scale ?? (big ? 'reference' : 'small') };
}

/** Edits, adds and deletes entries of a layout-6 journal (see the file comment). */
export function mutateJournal(datastoreDir: string, opts: MutateOptions): MutateResult {
  const entries = readJournal(datastoreDir).filter((e) => e.layout === 6);
  const { now, scale } = defaults(entries, opts);
  const ctx = newCtx(datastoreDir, opts.seed, scale, now);
  const rng = rngFor(`${opts.seed}/mutate`);
  const order = shuffled(rng, entries);
  const nChange = opts.fraction > 0 ? Math.min(order.length, Math.max(1, Math.round(opts.fraction * order.length))) : 0;
  const changed = order.slice(0, nChange);
  const victim = opts.fraction >= 0.1 ? order[nChange] : undefined;
  for (const e of changed) editEntry(ctx, e, rngFor(`${opts.seed}/edit/${e.uid}/meta`));
  if (victim) deleteEntry(ctx, victim);
  const added: string[] = [];
  for (let i = 0; i < (opts.fraction > 0 ? 2 : 0); i++) {
    const plan = planEntry(
      `${opts.seed}/mutate`,
      i,
      now,
      scale,
      pickKind(rngFor(`${opts.seed}/mutate/kind/${i}`)),
      {},
      86400,
    );
    added.push(writeEntry6(ctx, plan).uid);
  }
  if (opts.fraction > 0) writeIndex(ctx, opts.seed);
  applyDirTimes(ctx);
  return { changed: changed.map((e) => e.uid), added, deleted: victim ? [victim.uid] : [] };
}
