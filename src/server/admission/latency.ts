/**
 * latency — a window of the most recent durations (ms) and their quantiles,
 * for figures such as the admission latency on GET /api/v1/status.
 */
export class LatencyWindow {
  private values: number[] = [];
  private next = 0;
  count = 0;

  constructor(private readonly size = 2000) {}

  add(ms: number): void {
    this.count++;
    if (this.values.length < this.size) this.values.push(ms);
    else this.values[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  /** The q-quantile (0…1) of the window, nearest rank; 0 when empty. */
  quantile(q: number): number {
    if (!this.values.length) return 0;
    const s = [...this.values].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  }

  summary(): { count: number; p50: number; p99: number; max: number } {
    const r = (x: number) => Math.round(x * 100) / 100;
    return { count: this.count, p50: r(this.quantile(0.5)), p99: r(this.quantile(0.99)), max: r(this.quantile(1)) };
  }
}
