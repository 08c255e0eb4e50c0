/**
 * rng — the torture suite's seeded PRNG (sfc32 over a SHA-256 of the seed
 * string), so a failing run reproduces from its printed seed. `fork(tag)`
 * gives an independent stream per part/trial: adding a trial to one part
 * does not shift another part's choices.
 */
import { createHash } from 'node:crypto';

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: string) {
    const h = createHash('sha256').update(seed).digest();
    [this.a, this.b, this.c, this.d] = [0, 4, 8, 12].map((o) => h.readUInt32LE(o));
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n + 4);
    for (let i = 0; i < n; i += 4) out.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    return out.subarray(0, n);
  }

  hex(n: number): string {
    let s = '';
    while (s.length < n) s += this.int(16).toString(16);
    return s;
  }

  fork(tag: string | number): Rng {
    return new Rng(`${this.seed}/${tag}`);
  }
}
