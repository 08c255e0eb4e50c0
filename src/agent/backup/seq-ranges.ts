/**
 * seq-ranges — a set of integers kept as sorted, merged [from, to] ranges:
 * which folders of a scan's cache file the server took ahead of the commit
 * (acknowledged a batch at a time, so a few ranges, whatever the Journal's size).
 */
export class SeqRanges {
  private r: Array<[number, number]> = [];

  add(from: number, to: number): void {
    const out: Array<[number, number]> = [];
    let a = from;
    let b = to;
    for (const [x, y] of this.r) {
      if (y + 1 < a || x > b + 1) out.push([x, y]);
      else {
        a = Math.min(a, x);
        b = Math.max(b, y);
      }
    }
    out.push([a, b]);
    this.r = out.sort((p, q) => p[0] - q[0]);
  }

  has(n: number): boolean {
    let lo = 0;
    let hi = this.r.length - 1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (n < this.r[m][0]) hi = m - 1;
      else if (n > this.r[m][1]) lo = m + 1;
      else return true;
    }
    return false;
  }
}
