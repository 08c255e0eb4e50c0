/**
 * prng — seeded, hand-written pseudo-random numbers for the Journal generator.
 *
 * Nothing here touches Math.random: a string seed is hashed (cyrb128) into
 * four 32-bit words that seed an sfc32 generator, so the same seed gives the
 * same sequence on every machine and Node version. Bulk bytes (the contents
 * of photos, PDFs, recordings) come from a xorshift32 loop over a Uint32Array,
 * fast enough for hundreds of megabytes per second, and incompressible.
 * Text comes from a small word list, so it compresses like real text.
 *
 * Contract: every function is a pure function of the Rng state it is given;
 * an Rng is derived per purpose (`rngFor("seed/entry/12")`) so adding a call in
 * one place does not shift the numbers drawn everywhere else.
 */

export interface Rng {
  /** Uniform integer in [0, 2^32). */
  u32(): number;
  /** Uniform float in [0, 1). */
  float(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/** cyrb128: a string hash giving four well-mixed 32-bit words. */
function cyrb128(str: string): [number, number, number, number] {
  let h1 = 1779033703,
    h2 = 3144134277,
    h3 = 1013904242,
    h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** A generator seeded from a string (sfc32 over the cyrb128 hash). */
export function rngFor(seed: string): Rng {
  let [a, b, c, d] = cyrb128(seed);
  const u32 = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return r >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const float = (): number => u32() / 4294967296;
  return {
    u32,
    float,
    int: (min, max) => min + Math.floor(float() * (max - min + 1)),
    chance: (p) => float() < p,
    pick: (items) => items[Math.floor(float() * items.length)],
  };
}

/** Roughly normal number (mean 0, deviation 1) from the sum of uniforms. */
export function gaussian(rng: Rng): number {
  let s = 0;
  for (let i = 0; i < 6; i++) s += rng.float();
  return (s - 3) * Math.SQRT2;
}

/** A size drawn log-normally around `median`, clamped to [min, max]. */
export function logSize(rng: Rng, median: number, spread: number, min: number, max: number): number {
  const v = Math.round(median * Math.exp(gaussian(rng) * spread));
  return Math.max(min, Math.min(max, v));
}

/** `n` incompressible bytes, optionally starting with a fixed header. */
export function randomBytes(rng: Rng, n: number, header: Buffer = Buffer.alloc(0)): Buffer {
  const words = Math.ceil(n / 4);
  const ab = new ArrayBuffer(words * 4);
  const view = new Uint32Array(ab);
  let x = rng.u32() | 1;
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view[i] = x;
  }
  const buf = Buffer.from(ab, 0, n);
  header.copy(buf, 0, 0, Math.min(header.length, n));
  return buf;
}

/** Lowercase hex string of `n` characters. */
export function hex(rng: Rng, n: number): string {
  let s = '';
  while (s.length < n) s += rng.u32().toString(16).padStart(8, '0');
  return s.slice(0, n);
}

/** A uuid4-shaped string (version nibble 4, variant 8–b). */
export function uuid4(rng: Rng): string {
  const h = hex(rng, 32).split('');
  h[12] = '4';
  h[16] = '89ab'[rng.int(0, 3)];
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

const WORDS = (
  'el la los las un una de y en con para casa sol luna perro gato árbol río montaña escuela ' +
  'niño niña maestra libro dibujo color rojo azul verde amarillo grande pequeño feliz jugar ' +
  'correr saltar cantar leer escribir número suma resta tortuga física pelota agua fuego ' +
  'the a of and to in is it you that was for on are with as my our tree house water sun moon ' +
  'school friend story music turtle circle square triangle speed force energy garden bird'
).split(' ');

/** About `n` bytes of word text (UTF-8), with line breaks now and then. */
export function words(rng: Rng, n: number): string {
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = rng.pick(WORDS);
    const sep = rng.chance(0.08) ? '.\n' : ' ';
    parts.push(w, sep);
    len += Buffer.byteLength(w) + sep.length;
  }
  const s = parts.join('');
  return Buffer.from(s)
    .subarray(0, n)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}
