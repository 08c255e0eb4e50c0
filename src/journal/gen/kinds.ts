/**
 * gen-kinds — the kinds of Journal entries the generator makes, and their bytes.
 *
 * Each kind stands for one activity (or one kind of download) seen on real
 * XO laptops: its bundle id, MIME type, how often it occurs, how big its data
 * file is at `reference` scale (JOURNAL-FORMAT.md "Typical sizes") and at
 * `small` scale (bytes to a few KB, for fast tests), whether its bytes are
 * media (incompressible, with the format's magic number first) or text
 * (generated words, compressible), and which extra metadata keys it adds.
 *
 * Weights are tuned so 1,500 reference entries make about 31,000 files and
 * 590 MB, and about 15 % of the entries have no data file at all.
 */
import { type Rng, logSize, randomBytes, words, hex } from './prng.js';
import { crc32, deflateSync } from 'node:zlib';

export type Scale = 'small' | 'reference';

export interface Kind {
  name: string;
  /** Bundle id; empty for downloads and camera media. */
  activity: string;
  /** Default title when the user did not set one. */
  defaultTitle: string;
  mime: string;
  weight: number;
  /** Reference data size: median and log spread, clamped to [min, max]. Null = no data file. */
  size: { median: number; spread: number; min: number; max: number } | null;
  /** Magic bytes for media; null means the data is text. */
  header: Buffer | null;
  /** Extra, activity-specific metadata keys. */
  extras?: (rng: Rng) => Record<string, string>;
  /** True for kinds a classroom shares (same PDF, same bundle, same picture). */
  shareable?: boolean;
}

export const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
const OGG = Buffer.from('OggS\0\x02', 'latin1');
const PDF = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1');
const ZIP = Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1');

const KB = 1024;
const MB = 1024 * 1024;

function readExtras(rng: Rng): Record<string, string> {
  const x: Record<string, string> = {
    Read_current_page: String(rng.int(0, 120)),
    Read_zoom: (rng.int(50, 200) / 100).toFixed(2),
    Read_sizing: rng.pick(['fit-width', 'best-fit', 'free']),
    progress: String(rng.int(0, 100)),
  };
  if (rng.chance(0.6)) x.Read_search = rng.pick(['tortuga', 'agua', 'energy', '']);
  if (rng.chance(0.5)) x.cover_image = hex(rng, 16);
  if (rng.chance(0.5)) x.url = `http://schoolserver/library/${hex(rng, 8)}.pdf`;
  if (rng.chance(0.3)) x.mountpoint = '/';
  if (rng.chance(0.4)) x.fulltext = words(rng, rng.int(200, 2000));
  for (let i = 0, n = rng.int(0, 12); i < n; i++) x[`Read_bookmark_${i}`] = String(rng.int(1, 200));
  return x;
}

export const KINDS: readonly Kind[] = [
  {
    name: 'paint',
    activity: 'org.laptop.Oficina',
    defaultTitle: 'Paint Activity',
    mime: 'image/png',
    weight: 14,
    size: { median: 112 * KB, spread: 0.15, min: 85 * KB, max: 145 * KB },
    header: PNG_SIG,
  },
  {
    name: 'photo',
    activity: '',
    defaultTitle: 'Photo',
    mime: 'image/jpeg',
    weight: 12,
    size: { median: 20 * KB, spread: 0.15, min: 12 * KB, max: 32 * KB },
    header: JPEG,
    extras: () => ({ 'title-set-by-record': '1' }),
  },
  {
    name: 'video',
    activity: '',
    defaultTitle: 'Video',
    mime: 'video/ogg',
    weight: 6,
    size: { median: 2 * MB, spread: 0.6, min: 300 * KB, max: 5 * MB },
    header: OGG,
  },
  {
    name: 'audio',
    activity: '',
    defaultTitle: 'Audio',
    mime: 'audio/ogg',
    weight: 4,
    size: { median: 600 * KB, spread: 0.6, min: 60 * KB, max: 2 * MB },
    header: OGG,
  },
  {
    name: 'turtle',
    activity: 'org.laptop.TurtleArtActivity',
    defaultTitle: 'TurtleArt Activity',
    mime: 'application/x-turtle-art',
    weight: 8,
    size: { median: 450, spread: 0.4, min: 150, max: 1500 },
    header: null,
  },
  {
    name: 'pdf',
    activity: '',
    defaultTitle: 'Download',
    mime: 'application/pdf',
    weight: 17,
    shareable: true,
    size: { median: 750 * KB, spread: 0.4, min: 300 * KB, max: 1.3 * MB },
    header: PDF,
    extras: readExtras,
  },
  {
    name: 'write',
    activity: 'org.laptop.AbiWordActivity',
    defaultTitle: 'Write Activity',
    mime: 'application/vnd.oasis.opendocument.text',
    weight: 7,
    size: { median: 24 * KB, spread: 0.5, min: 8 * KB, max: 90 * KB },
    header: ZIP,
    extras: (rng) => ({ fulltext: words(rng, rng.int(100, 1500)) }),
  },
  {
    name: 'browse',
    activity: 'org.laptop.WebActivity',
    defaultTitle: 'Browse Activity',
    mime: 'text/plain',
    weight: 5,
    size: { median: 2 * KB, spread: 0.5, min: 300, max: 8 * KB },
    header: null,
    extras: (rng) => ({ url: `http://schoolserver/${hex(rng, 6)}.html` }),
  },
  {
    name: 'physics',
    activity: 'org.laptop.physics',
    defaultTitle: 'Physics Activity',
    mime: 'application/x-physics-activity',
    weight: 5,
    size: { median: 3 * KB, spread: 0.5, min: 400, max: 9 * KB },
    header: null,
  },
  {
    name: 'speak',
    activity: 'vu.lux.olpc.Speak',
    defaultTitle: 'Speak Activity',
    mime: 'text/plain',
    weight: 4,
    size: { median: 1 * KB, spread: 0.6, min: 100, max: 9 * KB },
    header: null,
    extras: (rng) => ({
      voice: rng.pick(['es', 'en', 'es-la']),
      pitch: String(rng.int(0, 99)),
      rate: String(rng.int(0, 99)),
    }),
  },
  {
    name: 'calculate',
    activity: 'org.laptop.Calculate',
    defaultTitle: 'Calculate Activity',
    mime: 'application/x-calculate-activity',
    weight: 3,
    size: { median: 800, spread: 0.6, min: 100, max: 9 * KB },
    header: null,
  },
  {
    name: 'bundle',
    activity: '',
    defaultTitle: 'Download',
    mime: 'application/vnd.olpc-sugar',
    weight: 4,
    shareable: true,
    size: { median: 1 * MB, spread: 0.6, min: 150 * KB, max: 2.5 * MB },
    header: ZIP,
    extras: (rng) => ({ bundle_id: `org.sugarlabs.${hex(rng, 6)}` }),
  },
  {
    name: 'image',
    activity: '',
    defaultTitle: 'Download',
    mime: 'image/jpeg',
    weight: 3,
    shareable: true,
    size: { median: 150 * KB, spread: 0.5, min: 40 * KB, max: 400 * KB },
    header: JPEG,
  },
  {
    name: 'terminal',
    activity: 'org.laptop.Terminal',
    defaultTitle: 'Terminal Activity',
    mime: '',
    weight: 9,
    size: null,
    header: null,
  },
  {
    name: 'clock',
    activity: 'tv.alterna.Clock',
    defaultTitle: 'Clock Activity',
    mime: '',
    weight: 4,
    size: null,
    header: null,
  },
  {
    name: 'abacus',
    activity: 'org.sugarlabs.AbacusActivity',
    defaultTitle: 'Abacus Activity',
    mime: '',
    weight: 4,
    size: null,
    header: null,
    extras: (rng) => ({ abacus: rng.pick(['suanpan', 'soroban', 'schety']) }),
  },
];

export const SHAREABLE = KINDS.filter((k) => k.shareable);
const TOTAL_WEIGHT = KINDS.reduce((s, k) => s + k.weight, 0);

/** A kind drawn by weight. */
export function pickKind(rng: Rng): Kind {
  let r = rng.float() * TOTAL_WEIGHT;
  for (const k of KINDS) {
    r -= k.weight;
    if (r < 0) return k;
  }
  return KINDS[KINDS.length - 1];
}

export function kindByName(name: string): Kind {
  return KINDS.find((k) => k.name === name) ?? KINDS[0];
}

/** The kind that best matches a stored entry (for edits of existing entries). */
export function kindOf(activity: string, mime: string): Kind {
  return (
    KINDS.find((k) => k.activity === activity && k.mime === mime) ??
    KINDS.find((k) => k.mime === mime && mime !== '') ??
    kindByName('terminal')
  );
}

/** Data size for a kind at a scale (0 when the kind has no data file). */
export function dataSize(rng: Rng, kind: Kind, scale: Scale): number {
  const s = kind.size;
  if (!s) return 0;
  const ref = logSize(rng, s.median, s.spread, s.min, s.max);
  if (scale === 'reference') return ref;
  return Math.max(16, Math.min(4096, Math.round(ref / 300)));
}

/** The data bytes of a kind: media are random bytes behind a magic number, the rest words. */
export function dataBytes(rng: Rng, kind: Kind, size: number): Buffer {
  if (kind.header) return randomBytes(rng, size, kind.header);
  const b = Buffer.alloc(size, 0x20);
  Buffer.from(words(rng, size)).copy(b);
  return b;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A real PNG of about `n` bytes: a 4:3 RGB image of random pixels, stored
 * uncompressed (zlib level 0), so it displays in a browser and stays as
 * incompressible as a photo preview.
 */
export function noisePng(rng: Rng, n: number): Buffer {
  const w = Math.max(1, Math.round(Math.sqrt((Math.max(n - 80, 3) / 3) * (4 / 3))));
  const h = Math.max(1, Math.round((w * 3) / 4));
  const pixels = randomBytes(rng, h * (1 + 3 * w));
  for (let y = 0; y < h; y++) pixels[y * (1 + 3 * w)] = 0; // filter type 0 on every row
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter method, no interlace
  return Buffer.concat([
    PNG_SIG,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(pixels, { level: 0 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Preview bytes (a real PNG): median ~11 KB up to ~90 KB at reference scale. */
export function previewBytes(rng: Rng, scale: Scale): Buffer {
  const n = scale === 'reference' ? logSize(rng, 11 * KB, 0.65, 2 * KB, 90 * KB) : rng.int(80, 300);
  return noisePng(rng, n);
}
