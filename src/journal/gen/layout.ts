/**
 * gen-layout — writes planned entries to disk in Sugar's two layouts.
 *
 * Layout 6: `<uid[:2]>/<uid>/data` + `metadata/<key>`, `checksums/<md5>/<uid>`
 * markers, identical data files hard-linked (fs.linkSync) the way Sugar's
 * optimizer does, plus the top-level `version`, `ds_clean`, `index_updated`
 * and a fake Xapian `index/`. Layout 0: `store/<uid>`, `store/<uid>.metadata`
 * (JSON of strings) and `store/preview/<uid>`.
 *
 * A WriteCtx counts every regular file path written (a hard link counts as a
 * file: a tree walker sees it as one) and remembers directory mtimes, which
 * applyDirTimes sets last, so a whole tree is reproducible to the second.
 */
import * as fs from 'node:fs';
import { rngFor, randomBytes } from './prng.js';
import type { Scale } from './kinds.js';
import {
  type EntryPlan,
  finishMetadata,
  md5Hex,
  previewValue,
  sourceBytes,
  writeFileAt,
  writeMetadataDir,
} from './entry.js';

export interface GenEntry {
  uid: string;
  title: string;
  activity: string;
  mimeType: string;
  hasData: boolean;
  keep: boolean;
  dataSize: number;
}

export interface GenSummary {
  entries: GenEntry[];
  files: number;
  bytes: number;
}

export interface WriteCtx {
  root: string;
  seed: string;
  scale: Scale;
  now: number;
  files: number;
  bytes: number;
  /** Directory → mtime (seconds), applied by applyDirTimes. */
  dirs: Map<string, number>;
  /** DataSource key → the first path written with those bytes. */
  written: Map<string, { path: string; size: number; md5: string }>;
}

export function newCtx(root: string, seed: string, scale: Scale, now: number): WriteCtx {
  return { root, seed, scale, now, files: 0, bytes: 0, dirs: new Map([[root, now]]), written: new Map() };
}

function summaryOf(plan: EntryPlan, size: number): GenEntry {
  return {
    uid: plan.uid,
    title: plan.title,
    activity: plan.kind.activity,
    mimeType: plan.kind.mime,
    hasData: plan.data !== null,
    keep: plan.keep,
    dataSize: size,
  };
}

function count(ctx: WriteCtx, bytes: number): void {
  ctx.files += 1;
  ctx.bytes += bytes;
}

/** Writes (or hard-links) a layout-6 data file; returns its size and md5. */
function writeData6(ctx: WriteCtx, plan: EntryPlan, path: string): { size: number; md5: string } {
  const src = plan.data!;
  const prev = ctx.written.get(src.key);
  if (prev) {
    fs.linkSync(prev.path, path);
    count(ctx, prev.size);
    return prev;
  }
  const bytes = sourceBytes(src);
  count(ctx, writeFileAt(path, bytes, plan.timestamp));
  const rec = { path, size: bytes.length, md5: md5Hex(bytes) };
  ctx.written.set(src.key, rec);
  return rec;
}

/** Writes one layout-6 entry folder and its checksum marker. */
export function writeEntry6(ctx: WriteCtx, plan: EntryPlan): GenEntry {
  const prefix = `${ctx.root}/${plan.uid.slice(0, 2)}`;
  const dir = `${prefix}/${plan.uid}`;
  fs.mkdirSync(`${dir}/metadata`, { recursive: true });
  let size = 0;
  let md5: string | null = null;
  if (plan.data) {
    ({ size, md5 } = writeData6(ctx, plan, `${dir}/data`));
    const sumDir = `${ctx.root}/checksums/${md5}`;
    fs.mkdirSync(sumDir, { recursive: true });
    count(ctx, writeFileAt(`${sumDir}/${plan.uid}`, '', ctx.now));
    ctx.dirs.set(sumDir, ctx.now).set(`${ctx.root}/checksums`, ctx.now);
  }
  const meta = finishMetadata(plan, size, md5, previewValue(plan, ctx.seed, ctx.scale));
  const [files, bytes] = writeMetadataDir(`${dir}/metadata`, meta, plan.timestamp);
  ctx.files += files;
  ctx.bytes += bytes;
  ctx.dirs.set(prefix, ctx.now).set(dir, plan.timestamp).set(`${dir}/metadata`, plan.timestamp);
  return summaryOf(plan, size);
}

/** Writes one layout-0 entry: store/<uid>, store/<uid>.metadata, store/preview/<uid>. */
export function writeEntry0(ctx: WriteCtx, plan: EntryPlan): GenEntry {
  const store = `${ctx.root}/store`;
  fs.mkdirSync(`${store}/preview`, { recursive: true });
  let size = 0;
  if (plan.data) {
    const bytes = sourceBytes(plan.data);
    size = bytes.length;
    count(ctx, writeFileAt(`${store}/${plan.uid}`, bytes, plan.timestamp));
  }
  const { preview, ...meta } = finishMetadata(plan, size, null, previewValue(plan, ctx.seed, ctx.scale));
  const json: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) json[k] = v.toString('utf8');
  count(ctx, writeFileAt(`${store}/${plan.uid}.metadata`, JSON.stringify(json), plan.timestamp));
  if (preview) count(ctx, writeFileAt(`${store}/preview/${plan.uid}`, preview, plan.timestamp));
  ctx.dirs.set(store, ctx.now).set(`${store}/preview`, ctx.now);
  return summaryOf(plan, size);
}

/** The fake Xapian index: a couple of files whose bytes depend on `tag`. */
export function writeIndex(ctx: WriteCtx, tag: string): void {
  const dir = `${ctx.root}/index`;
  fs.mkdirSync(dir, { recursive: true });
  const rng = rngFor(`${ctx.seed}/index/${tag}`);
  const big = ctx.scale === 'reference' ? 256 * 1024 : 2048;
  const files: Array<[string, Buffer | string]> = [
    ['iamchert', '1\n'],
    ['record.DB', randomBytes(rng, big)],
    ['postlist.DB', randomBytes(rng, big / 2)],
  ];
  for (const [name, bytes] of files) {
    const path = `${dir}/${name}`;
    const old = fs.existsSync(path) ? fs.statSync(path).size : 0;
    if (old) {
      ctx.files -= 1;
      ctx.bytes -= old;
    }
    count(ctx, writeFileAt(path, bytes, ctx.now));
  }
  ctx.dirs.set(dir, ctx.now);
}

/** version "6", the ds_clean and index_updated flags, and the index. */
export function writeTop6(ctx: WriteCtx): void {
  fs.mkdirSync(`${ctx.root}/checksums`, { recursive: true });
  count(ctx, writeFileAt(`${ctx.root}/version`, '6', ctx.now));
  count(ctx, writeFileAt(`${ctx.root}/ds_clean`, '', ctx.now));
  count(ctx, writeFileAt(`${ctx.root}/index_updated`, '', ctx.now));
  ctx.dirs.set(`${ctx.root}/checksums`, ctx.now);
  writeIndex(ctx, 'initial');
}

/** Sets every remembered directory mtime (after all files are in place). */
export function applyDirTimes(ctx: WriteCtx): void {
  for (const [dir, t] of ctx.dirs) if (fs.existsSync(dir)) fs.utimesSync(dir, t, t);
}
