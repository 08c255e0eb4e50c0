/**
 * admission-queue — who waits for a backup slot, and in which order.
 *
 * When every slot is taken a laptop is refused with Retry-After and
 * remembered here as a waiter: its last successful backup (devices
 * `last_backup_at`; never = oldest of all), when it was first refused, and
 * when it was told to come back. Queue order: the oldest last success first,
 * ties by first refusal (FIFO); the position sets Retry-After.
 *
 * Priority counts whole days: a laptop whose last success is on an earlier
 * (UTC) day *outranks* one that backed up later (a laptop that missed a week
 * beats one that backed up yesterday; one that never did beats all).
 * Laptops of the same day do not hold slots for each other — otherwise a
 * school that all backed up yesterday would idle slots over milliseconds.
 *
 * A waiter that outranks the requester *reserves* a slot around the time it
 * was told to return, from
 * HOLD_BEFORE_MS before to HOLD_MS after: a slot that frees then is held for
 * it, and a laptop of lower priority is refused even though a slot looks
 * free. Outside that window slots are not held (no slot idles for a laptop
 * that is far from due). The most starved waiters are told to come back
 * soonest (slotsRetryAfter grows with the queue position). A waiter that
 * does not come back stops reserving after HOLD_MS and is forgotten after
 * FORGET_MS (its place in line goes with it).
 *
 * Pure functions (isAhead, slotsRetryAfter) carry the rules; WaitQueue holds
 * the live list.
 */

export const HOLD_MS = 10_000;
export const HOLD_BEFORE_MS = 5_000;
export const FORGET_MS = 10 * 60_000;
/** Shortest Retry-After for waiters behind a full round of slots … */
export const MIN_RETRY_S = 5;
/** … and for the few (fewer than the slots) at the head of the queue. */
export const MIN_RETRY_HEAD_S = 1;
/** Longest estimate before jitter (so at most 1.5 × this). */
export const MAX_RETRY_S = 300;

export interface Waiter {
  deviceId: number;
  /** Last successful backup (ms since the epoch), null = never. */
  lastSuccess: number | null;
  firstRefusedAt: number;
  retryAt: number;
}

const DAY_MS = 86_400_000;
const day = (ms: number | null) => (ms === null ? -Infinity : Math.floor(ms / DAY_MS));

/** True when `a` has priority over `b`: its last success is on an earlier day. */
export function outranks(a: Pick<Waiter, 'lastSuccess'>, b: Pick<Waiter, 'lastSuccess'>): boolean {
  return day(a.lastSuccess) < day(b.lastSuccess);
}

/** Queue order: `a` before `b` by older last success, then earlier first refusal. */
export function isAhead(
  a: Pick<Waiter, 'lastSuccess' | 'firstRefusedAt' | 'deviceId'>,
  b: Pick<Waiter, 'lastSuccess' | 'firstRefusedAt' | 'deviceId'>,
): boolean {
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
 * `jitter` ∈ [0,1) over ×0.5…×1.5 so waiters do not return in a herd. Only
 * the head of the queue (fewer waiters ahead than there are slots) may poll
 * as often as every second, so a held slot idles briefly; everyone else
 * waits at least MIN_RETRY_S.
 */
export function slotsRetryAfter(ahead: number, maxConcurrent: number, avgLeaseSec: number, jitter: number): number {
  const est = avgLeaseSec * (1 + ahead / Math.max(1, maxConcurrent));
  const min = ahead < maxConcurrent ? MIN_RETRY_HEAD_S : MIN_RETRY_S;
  return Math.max(min, Math.round(Math.min(MAX_RETRY_S, est) * (0.5 + jitter)));
}

/** Whether waiter w holds a slot at time t: it is due about now. */
export function reserves(w: Waiter, t: number): boolean {
  return t >= w.retryAt - HOLD_BEFORE_MS && t <= w.retryAt + HOLD_MS;
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
    return {
      deviceId,
      lastSuccess,
      firstRefusedAt: w?.firstRefusedAt ?? this.now(),
      retryAt: w?.retryAt ?? this.now(),
    };
  }

  /** Waiters that outrank `me` and hold a slot right now. */
  heldFor(me: Waiter): number {
    const t = this.now();
    let n = 0;
    for (const w of this.waiters.values()) {
      if (w.deviceId !== me.deviceId && reserves(w, t) && outranks(w, me)) n++;
    }
    return n;
  }

  /** Waiters still expected back that are before `me` in the queue. */
  position(me: Waiter): number {
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
    return [...this.waiters.values()].filter((w) => reserves(w, t)).length;
  }
}
