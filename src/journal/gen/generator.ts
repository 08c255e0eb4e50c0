/**
 * generator — deterministic Sugar Journals for tests, demos and benchmarks.
 *
 * generateJournal(dir, { seed, entries }) writes a complete datastore folder
 * (layout 6 by default, layout 0 on request) whose every byte, name and mtime
 * is a function of the options: the same options give the same tree, on any
 * machine. No Math.random, no Date.now: `now` defaults to DEFAULT_NOW
 * (2013-08-01, when the real sample laptops were backed up).
 *
 * Scales: `small` (default) keeps data files to bytes–4 KB so tests are fast;
 * `reference` uses the real sizes of JOURNAL-FORMAT.md (1,500 entries ≈
 * 31,000 files, ≈ 590 MB, a few seconds to write).
 *
 * Special cases are always present once a journal has 8 entries or more:
 * Spanish, CJK and emoji titles, a title containing "/", starred entries,
 * an empty preview, a base64 preview, a zero-byte data file, an entry with no
 * data, and a Journal copy whose data file is hard-linked to the original's.
 * Further copies, absent previews and the like are drawn at random.
 *
 * sharedPool: with probability `fraction` an entry's data is item k of a pool
 * seeded by `sharedPool.seed` (PDFs, activity bundles, pictures; 40 items,
 * low k more popular). Journals with different seeds but the same pool seed
 * and scale hold byte-identical copies of those files: the classroom where 30
 * laptops downloaded the same books. Pool items repeated within one journal
 * are hard-linked.
 */
import * as fs from 'node:fs';
import { rngFor, randomBytes, words, type Rng } from './prng.js';
import { type Kind, type Scale, SHAREABLE, kindByName, pickKind, dataSize } from './kinds.js';
import { type DataSource, type EntryPlan, type Force, planEntry, writeFileAt } from './entry.js';
import {
  type GenEntry,
  type GenSummary,
  type WriteCtx,
  newCtx,
  writeEntry0,
  writeEntry6,
  writeTop6,
  applyDirTimes,
} from './layout.js';

export type { GenEntry, GenSummary } from './layout.js';
export type { Scale } from './kinds.js';
export { mutateJournal } from './mutate.js';

export interface GenOptions {
  seed: string;
  entries: number;
  layout?: 6 | 0;
  scale?: Scale;
  sharedPool?: { seed: string; fraction: number };
  /** Seconds since the epoch; entries are dated up to 300 days before it. */
  now?: number;
}

/** 2013-08-01T00:00:00Z. */
export const DEFAULT_NOW = 1375315200;
const POOL_SIZE = 40;
const POOL_TITLES = [
  'Libro de ciencias naturales',
  'Cuentos de la selva',
  'Matemáticas 4º grado',
  'Atlas escolar',
  'Memorize',
  'Mapa del mundo',
  'Himno nacional',
];

interface Earlier {
  kind: Kind;
  title: string;
  data: DataSource;
}

/** The forced features of entry i (see the file comment), if any. */
function forced(i: number, earlier: Earlier[]): Force | null {
  switch (i) {
    case 0:
      return { kind: kindByName('paint'), title: 'Mi dibujo de la montaña', keep: true, preview: 'png' };
    case 1:
      return { kind: kindByName('write'), title: '我的画 — 日本語のノート', preview: 'png' };
    case 2:
      return { kind: kindByName('turtle'), title: '🐢 Tortuga mágica 🎨', preview: 'base64' };
    case 3:
      return { kind: kindByName('physics'), keep: true, preview: 'empty' };
    case 4:
      return { kind: kindByName('speak'), zeroData: true };
    case 5:
      return { kind: kindByName('terminal'), keep: false };
    case 6:
      return earlier[0] ? { copyOf: earlier[0] } : null;
    case 7:
      return { kind: kindByName('pdf'), title: 'Tarea 3/4: fracciones', extras: { mountpoint: '/' } };
    default:
      return null;
  }
}

/** Pool item k: same kind, title and bytes in every journal using this pool seed. */
function poolItem(poolSeed: string, k: number, scale: Scale): Earlier {
  const rng = rngFor(`${poolSeed}/pool/${k}`);
  const kind = rng.pick(SHAREABLE);
  const size = dataSize(rng, kind, scale);
  const seed = `${poolSeed}/pool/${k}/${scale}`;
  return { kind, title: `${rng.pick(POOL_TITLES)} ${k + 1}`, data: { key: seed, seed, kind, size } };
}

function randomForce(rng: Rng, opts: GenOptions, scale: Scale, earlier: Earlier[]): Force {
  const pool = opts.sharedPool;
  if (pool && rng.chance(pool.fraction)) {
    const k = Math.floor(POOL_SIZE * rng.float() ** 2);
    return { copyOf: poolItem(pool.seed, k, scale) };
  }
  const withData = earlier.filter((e) => e.data.size > 0);
  if (withData.length > 0 && rng.chance(0.03)) return { copyOf: rng.pick(withData) };
  return { zeroData: rng.chance(0.015) };
}

function planAll(opts: GenOptions, scale: Scale, now: number, each: (plan: EntryPlan) => void): void {
  const earlier: Earlier[] = [];
  for (let i = 0; i < opts.entries; i++) {
    const rng = rngFor(`${opts.seed}/choice/${i}`);
    const force = forced(i, earlier) ?? randomForce(rng, opts, scale, earlier);
    const plan = planEntry(opts.seed, i, now, scale, pickKind(rng), force);
    if (plan.data) earlier.push({ kind: plan.kind, title: plan.title, data: plan.data });
    each(plan);
  }
}

/** Writes a complete datastore folder (which should not exist yet, or be empty). */
export function generateJournal(datastoreDir: string, opts: GenOptions): GenSummary {
  const scale = opts.scale ?? 'small';
  const now = opts.now ?? DEFAULT_NOW;
  const layout = opts.layout ?? 6;
  fs.mkdirSync(datastoreDir, { recursive: true });
  const ctx = newCtx(datastoreDir, opts.seed, scale, now);
  if (layout === 6) writeTop6(ctx);
  const entries: GenEntry[] = [];
  planAll(opts, scale, now, (plan) => entries.push(layout === 6 ? writeEntry6(ctx, plan) : writeEntry0(ctx, plan)));
  applyDirTimes(ctx);
  return { entries, files: ctx.files, bytes: ctx.bytes };
}

function writeDocuments(ctx: WriteCtx, dir: string): void {
  const rng = rngFor(`${ctx.seed}/documents`);
  const big = ctx.scale === 'reference' ? 64 * 1024 : 512;
  const files: Array<[string, Buffer | string]> = [
    ['notas.txt', words(rng, big / 4)],
    ['Canción de cuna.txt', words(rng, 300)],
    ['Mis fotos/playa.jpg', randomBytes(rng, big, Buffer.from([0xff, 0xd8, 0xff, 0xe0]))],
    ['Mis fotos/viaje/mapa.png', randomBytes(rng, big * 2, Buffer.from([0x89, 0x50, 0x4e, 0x47]))],
    ['vacío.txt', ''],
  ];
  for (const d of ['', '/Mis fotos', '/Mis fotos/viaje']) {
    fs.mkdirSync(`${dir}${d}`, { recursive: true });
    ctx.dirs.set(`${dir}${d}`, ctx.now);
  }
  for (const [name, bytes] of files) {
    ctx.files += 1;
    ctx.bytes += writeFileAt(`${dir}/${name}`, bytes, ctx.now - 86400);
  }
  fs.symlinkSync('Mis fotos/playa.jpg', `${dir}/última foto`);
  fs.lutimesSync(`${dir}/última foto`, ctx.now, ctx.now);
}

/**
 * A Sugar profile folder: `datastore/` (generateJournal), optionally
 * `Documents/` (plain files, a nested folder, an empty file, a relative
 * symlink pointing inside) and `identifiers/sn` (the serial, no newline).
 * `entries` lists the Journal; `files`/`bytes` count every regular file
 * written under profileDir (symlinks are not counted).
 */
export function writeProfile(
  profileDir: string,
  opts: GenOptions & { serial?: string; documents?: boolean },
): GenSummary {
  const summary = generateJournal(`${profileDir}/datastore`, opts);
  const ctx = newCtx(profileDir, opts.seed, opts.scale ?? 'small', opts.now ?? DEFAULT_NOW);
  if (opts.documents) writeDocuments(ctx, `${profileDir}/Documents`);
  if (opts.serial !== undefined) {
    fs.mkdirSync(`${profileDir}/identifiers`, { recursive: true });
    ctx.files += 1;
    ctx.bytes += writeFileAt(`${profileDir}/identifiers/sn`, opts.serial, ctx.now);
    ctx.dirs.set(`${profileDir}/identifiers`, ctx.now);
  }
  ctx.dirs.set(profileDir, ctx.now);
  applyDirTimes(ctx);
  return { entries: summary.entries, files: summary.files + ctx.files, bytes: summary.bytes + ctx.bytes };
}
