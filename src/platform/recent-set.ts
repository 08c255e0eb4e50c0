/**
 * recent-set — a set that remembers only the last few thousand keys (two
 * generations of at most `cap` each), for skipping repeats without memory
 * that grows with the run: a key forgotten is only offered a second time.
 */
export class RecentSet {
  private cur = new Set<string>();
  private prev = new Set<string>();
  constructor(private readonly cap: number) {}

  has(k: string): boolean {
    return this.cur.has(k) || this.prev.has(k);
  }

  add(k: string): void {
    if (this.cur.size >= this.cap) {
      this.prev = this.cur;
      this.cur = new Set();
    }
    this.cur.add(k);
  }
}
