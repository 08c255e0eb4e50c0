/**
 * bandwidth — the optional upload cap for the whole server (token bucket).
 *
 * One bucket per server, shared by every upload body (framed blob batches and
 * resumable PATCH bodies): tokens are bytes, refilled at `rate` bytes per
 * second up to `burst`. A chunk that finds too few tokens waits until they
 * have accrued; reading the request body more slowly makes TCP slow the
 * laptop down, so backups leave room on the school network. Waiting is FIFO
 * by reservation (a "virtual clock": each take() books the time its bytes are
 * paid for), so many uploads share the rate fairly in arrival order.
 * rate 0 = no cap. Clock and sleep are injectable for tests.
 */
import { setTimeout as delay } from 'node:timers/promises';

export class TokenBucket {
  /** Time (ms) at which every byte booked so far has been paid for. */
  private paidUntil: number;
  bytes = 0;
  waitedMs = 0;

  constructor(
    readonly rate: number,
    readonly burst = Math.max(64 * 1024, rate / 4),
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => delay(ms),
  ) {
    this.paidUntil = now() - (burst / Math.max(rate, 1)) * 1000;
  }

  /** Books n bytes; returns how long (ms) the caller must wait before using them. */
  reserve(n: number): number {
    this.bytes += n;
    if (this.rate <= 0) return 0;
    const t = this.now();
    const floor = t - (this.burst / this.rate) * 1000;
    this.paidUntil = Math.max(this.paidUntil, floor) + (n / this.rate) * 1000;
    return Math.max(0, this.paidUntil - t);
  }

  async take(n: number): Promise<void> {
    const wait = this.reserve(n);
    if (wait > 0) {
      this.waitedMs += wait;
      await this.sleep(wait);
    }
  }

  /** Passes a body through at the bucket's pace (unchanged when rate is 0). */
  throttle(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    if (this.rate <= 0) return source;
    const step = Math.max(16 * 1024, Math.min(256 * 1024, Math.floor(this.rate / 8)));
    const take = (n: number) => this.take(n);
    return (async function* () {
      for await (const chunk of source) {
        for (let i = 0; i < chunk.length; i += step) {
          const part = chunk.subarray(i, i + step);
          await take(part.length);
          yield part;
        }
      }
    })();
  }
}
