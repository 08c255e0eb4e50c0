/**
 * admission-queue — who waits for a backup slot, and in which order.
 *
 * When every slot is taken a laptop is refused with Retry-After and
 * remembered here as a waiter: its last successful backup (devices
 * `last_backup_at`; never = oldest of all), when it was first refused, and
 * when it was told to come back. Priority: the oldest last success goes
 * first, ties by first refusal (FIFO).
 *
 * A waiter *reserves* a slot from its refusal until HOLD_MS after the time it
 * was told to return: a slot that frees meanwhile is held for it, and a
 * laptop of lower priority is refused even though a slot looks free. Because
 * the most starved waiters are told to come back soonest (slotsRetryAfter
 * grows with the queue position), a held slot sits idle only briefly. A
 * waiter that does not come back stops reserving after HOLD_MS and is
 * forgotten after FORGET_MS (its place in line goes with it).
 *
 * Pure functions (isAhead, slotsRetryAfter) carry the rules; WaitQueue holds
 * the live list.
 */

export const HOLD_MS = 10_000;
export const FORGET_MS = 10 * 60_000;
export const MIN_RETRY_S = 5;
export const MAX_RETRY_S = 600;

export interface Waiter {
  deviceId: number;
  /** Last successful backup (ms since the epoch), null = never. */
  lastSuccess: number | null;
  firstRefusedAt: number;
  retryAt: number;
}

/** True when waiter `a` goes before `b`: older last success, then earlier first refusal. */
export function isAhead(a: Pick<Waiter, 'lastSuccess' | 'firstRefusedAt' | 'deviceId'>, b: Pick<Waiter, 'lastSuccess' | 'firstRefusedAt' | 'deviceId'>): boolean {
  const la = a.lastSuccess ?? -Infinity;
  const lb = b.lastSuccess ?? -Infinity;
  if (la !== lb) return la < lb;
  if (a.firstRefusedAt !== b.firstRefusedAt) return a.firstRefusedAt < b.firstRefusedAt;
  return a.deviceId < b.deviceId;
}

/**
 * Retry-After (seconds) for a laptop refused because the slots are full:
 * about when a slot should free for its queue position (`ahead` waiters
 * before it, `maxConcurrent` slots, leases lasting `avgLeaseSec`), spread by
 * `jitter` ∈ [0,1) over ×0.5…×1.5 so waiters do not return in a herd.
 */
export function slotsRetryAfter(ahead: number, maxConcurrent: number, avgLeaseSec: number, jitter: number): number {
  const est = avgLeaseSec * (1 + ahead / Math.max(1, maxConcurrent));
  return Math.min(MAX_RETRY_S, Math.max(MIN_RETRY_S, Math.round(est * (0.5 + jitter))));
}

export class WaitQueue {
  private waiters = new Map<number, Waiter>();

  constructor(private readonly now: () => number) {}

  private sweep(): void {
    const t = this.now();
    for (const [id, w] of this.waiters) if (t > w.retryAt + FORGET_MS) this.waiters.delete(id);
  }

  /** The requester as a waiter: its remembered place, or a new one at the back. */
  candidate(deviceId: number, lastSuccess: number | null): Waiter {
    this.sweep();
    const w = this.waiters.get(deviceId);
    return { deviceId, lastSuccess, firstRefusedAt: w?.firstRefusedAt ?? this.now(), retryAt: w?.retryAt ?? this.now() };
  }

  /** Waiters that reserve a slot ahead of `me` right now. */
  aheadOf(me: Waiter): number {
    const t = this.now();
    let n = 0;
    for (const w of this.waiters.values()) {
      if (w.deviceId !== me.deviceId && t <= w.retryAt + HOLD_MS && isAhead(w, me)) n++;
    }
    return n;
  }

  refused(me: Waiter, retryAfterS: number): void {
    this.waiters.set(me.deviceId, { ...me, retryAt: this.now() + retryAfterS * 1000 });
  }

  granted(deviceId: number): void {
    this.waiters.delete(deviceId);
  }

  /** Waiting laptops, best first (for the status page). */
  list(): Waiter[] {
    this.sweep();
    return [...this.waiters.values()].sort((a, b) => (isAhead(a, b) ? -1 : 1));
  }

  /** How many waiters currently reserve a slot. */
  reserving(): number {
    const t = this.now();
    return [...this.waiters.values()].filter((w) => t <= w.retryAt + HOLD_MS).length;
  }
}
