/**
 * gen-entry — one generated Journal entry: its plan, its metadata, its bytes.
 *
 * An EntryPlan is everything random about an entry, drawn from the entry's
 * own Rng (`<seed>/entry/<i>`): kind, uid, title, star, times, preview mode
 * and a DataSource. A DataSource names the data bytes by a seed string and a
 * size, so the same bytes can be regenerated at will (for a layout-0 copy, a
 * classroom pool item, an edit) and so identical data files are recognised
 * by `key` and hard-linked like Sugar's optimizer does. Nothing here writes
 * to disk except the small write helpers at the end, which also set mtimes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { type Rng, rngFor, hex, uuid4, words } from './prng.js';
import { type Kind, type Scale, dataBytes, dataSize, previewBytes } from './kinds.js';

export interface DataSource {
  /** Identity of the bytes: equal keys mean identical files (hard-linked in layout 6). */
  key: string;
  seed: string;
  kind: Kind;
  size: number;
}

export type PreviewMode = 'png' | 'base64' | 'empty' | 'absent';

export interface EntryPlan {
  uid: string;
  kind: Kind;
  title: string;
  titleSetByUser: boolean;
  keep: boolean;
  created: number;
  timestamp: number;
  preview: PreviewMode;
  data: DataSource | null;
  /** Metadata string values, without filesize/checksum/preview (see finishMetadata). */
  props: Record<string, string>;
}

const USER_TITLES = [
  'Mi dibujo de la montaña',
  'Canción para mamá',
  'Los niños jugando fútbol',
  'Año nuevo en el pueblo',
  'A árvore do meu avô',
  'Fração e multiplicação',
  '我的画',
  '日本語のノート',
  '수학 숙제',
  'رسمتي الجميلة',
  '🐢 Tortuga mágica 🎨',
  'Mi perro 🐶',
  'Tarea 3/4: fracciones',
  'My story about the sun',
  'Experimento de física',
  'El ciclo del agua',
  'Cuento: el zorro y la luna',
  '  espacios  ',
  'Proyecto final ✅',
];
const NICKS = ['Ana', 'José', 'María', 'Luis', 'Sofía', 'Mateo', 'Valentina', 'Tomás', 'Lucía', 'Ñandú'];
const COLORS = [
  '#FF2B34',
  '#FF8F00',
  '#00A0FF',
  '#008009',
  '#B20008',
  '#5E008C',
  '#F8E800',
  '#00588C',
  '#AC32FF',
  '#7F00BF',
];

export function iconColor(rng: Rng): string {
  return `${rng.pick(COLORS)},${rng.pick(COLORS)}`;
}

/** Sugar's ISO mtime: local-less, microseconds, no zone. */
export function isoMtime(seconds: number, rng: Rng): string {
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  return `${iso}.${String(rng.int(0, 999999)).padStart(6, '0')}`;
}

export function userTitle(rng: Rng): string {
  return rng.pick(USER_TITLES);
}

/** Features the generator may force on an entry so every special case is present. */
export interface Force {
  kind?: Kind;
  title?: string;
  keep?: boolean;
  preview?: PreviewMode;
  zeroData?: boolean;
  copyOf?: { kind: Kind; title: string; data: DataSource };
  data?: DataSource;
  extras?: Record<string, string>;
}

function drawPreview(rng: Rng): PreviewMode {
  const r = rng.float();
  return r < 0.08 ? 'empty' : r < 0.16 ? 'base64' : r < 0.2 ? 'absent' : 'png';
}

function optionalProps(rng: Rng, p: Record<string, string>, created: number, timestamp: number): void {
  if (!rng.chance(0.9)) delete p.title_set_by_user;
  if (rng.chance(0.7)) p.creation_time = String(created);
  if (rng.chance(0.95)) p['icon-color'] = iconColor(rng);
  if (rng.chance(0.5)) p['share-scope'] = rng.pick(['private', 'private', 'invite', 'public']);
  if (rng.chance(0.65)) {
    const n = rng.int(1, 5);
    const launches = Array.from({ length: n }, (_, k) => created + Math.floor(((timestamp - created) * k) / n));
    p['launch-times'] = launches.join(', ');
    p['spent-times'] = launches.map(() => String(rng.int(10, 3000))).join(', ');
  }
  if (rng.chance(0.4)) p.buddies = JSON.stringify({ [hex(rng, 40)]: [rng.pick(NICKS), iconColor(rng)] });
  if (rng.chance(0.25))
    p.tags = `${rng.pick(['tarea', 'arte', 'ciencias', 'math'])} ${rng.pick(['2013', 'grupo', 'casa'])}`;
  if (rng.chance(0.3)) p.description = words(rng, rng.int(10, 120));
}

/** Draws an entry plan for entry `index` of a journal, created up to `maxAge` seconds before `now`. */
export function planEntry(
  seed: string,
  index: number,
  now: number,
  scale: Scale,
  kind: Kind,
  force: Force = {},
  maxAge = 300 * 86400,
): EntryPlan {
  const rng = rngFor(`${seed}/entry/${index}`);
  const uid = uuid4(rng);
  const k = force.copyOf?.kind ?? force.kind ?? kind;
  const created = now - rng.int(3600, Math.max(3600, maxAge));
  const timestamp = Math.min(now - 60, created + rng.int(0, 5 * 86400));
  const titleSetByUser = force.title !== undefined || force.copyOf !== undefined || rng.chance(0.55);
  const title = force.copyOf?.title ?? force.title ?? (titleSetByUser ? userTitle(rng) : k.defaultTitle);
  const keep = force.keep ?? rng.chance(0.12);
  const props: Record<string, string> = {
    uid,
    title,
    title_set_by_user: titleSetByUser ? '1' : '0',
    activity: k.activity,
    activity_id: hex(rng, 40),
    mime_type: k.mime,
    timestamp: String(timestamp),
    mtime: isoMtime(timestamp, rng),
    keep: keep ? '1' : '0',
  };
  optionalProps(rng, props, created, timestamp);
  Object.assign(props, k.extras?.(rng) ?? {}, force.extras ?? {});
  let data: DataSource | null = force.copyOf?.data ?? force.data ?? null;
  if (!data && k.size) {
    const size = force.zeroData ? 0 : dataSize(rng, k, scale);
    data = { key: `${seed}/data/${index}`, seed: `${seed}/data/${index}`, kind: k, size };
  }
  return {
    uid,
    kind: k,
    title,
    titleSetByUser,
    keep,
    created,
    timestamp,
    preview: force.preview ?? drawPreview(rng),
    data,
    props,
  };
}

export function sourceBytes(src: DataSource): Buffer {
  return src.size === 0 ? Buffer.alloc(0) : dataBytes(rngFor(src.seed), src.kind, src.size);
}

export function md5Hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

/** The preview value as stored, or undefined when the entry has none. */
export function previewValue(plan: EntryPlan, seed: string, scale: Scale): Buffer | undefined {
  if (plan.preview === 'absent') return undefined;
  if (plan.preview === 'empty') return Buffer.alloc(0);
  const png = previewBytes(rngFor(`${seed}/preview/${plan.uid}`), scale);
  return plan.preview === 'base64' ? Buffer.from(png.toString('base64')) : png;
}

/** Every metadata value of a planned entry, once its data size and md5 are known. */
export function finishMetadata(
  plan: EntryPlan,
  size: number,
  md5: string | null,
  preview: Buffer | undefined,
): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(plan.props)) out[k] = Buffer.from(v);
  out.filesize = Buffer.from(String(size));
  if (md5) out.checksum = Buffer.from(md5);
  if (preview) out.preview = preview;
  return out;
}

/** Writes a file and sets its times; returns its size. */
export function writeFileAt(path: string, bytes: Buffer | string, seconds: number): number {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const fd = fs.openSync(path, 'w');
  try {
    for (let off = 0; off < buf.length;) off += fs.writeSync(fd, buf, off);
    fs.futimesSync(fd, seconds, seconds);
  } finally {
    fs.closeSync(fd);
  }
  return buf.length;
}

/** Writes every metadata file of a layout-6 entry; returns [files, bytes]. */
export function writeMetadataDir(dir: string, meta: Record<string, Buffer>, seconds: number): [number, number] {
  fs.mkdirSync(dir, { recursive: true });
  let bytes = 0;
  const keys = Object.keys(meta);
  for (const k of keys) bytes += writeFileAt(`${dir}/${k}`, meta[k], seconds);
  return [keys.length, bytes];
}
