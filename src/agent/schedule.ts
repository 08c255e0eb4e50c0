/**
 * schedule — the pure rules of the scheduled run (`ds-backup run`), each a
 * function of its inputs so tests drive them with a fake clock and random.
 *
 *  - done today: ds-backup-done was touched since local midnight (a stamp
 *    more than a day in the future is a clock error and does not count);
 *  - stagger: a random sleep in [0, maxSleep) so a school of laptops woken
 *    by the same timer tick does not arrive at once;
 *  - busy: after a 503 wait as Retry-After says, else back off exponentially
 *    with full jitter — after busy try n (1…5) wait random × 240 s × 2^(n-1)
 *    (caps 4, 8, 16, 32, 64 min: about an hour in all on average, the 2008
 *    scripts' budget) — and give up after MAX_TRIES until the next tick;
 *  - next attempt: tomorrow's local midnight after a success or a "done
 *    today" skip, else the next timer tick.
 */

export const MAX_TRIES = 6;
export const BACKOFF_BASE_MS = 240_000;
export const MAX_RETRY_AFTER_MS = 3_600_000;
export const TICK_MS = 15 * 60_000;
export const DEFAULT_MAX_SLEEP_MS = 20 * 60_000;
export const DEFAULT_MIN_BATTERY = 30;
const DAY_MS = 86_400_000;

/** Local midnight at the start of the day of `now` (ms). */
export function localMidnight(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** Local midnight at the start of the next day. */
export function nextMidnight(now: number): number {
  const d = new Date(localMidnight(now));
  d.setDate(d.getDate() + 1);
  return d.getTime();
}

export function doneToday(lastDone: number | null, now: number): boolean {
  return lastDone !== null && lastDone >= localMidnight(now) && lastDone <= now + DAY_MS;
}

export function staggerMs(random: number, maxSleepMs: number): number {
  return Math.floor(random * maxSleepMs);
}

/**
 * How long to wait after busy try `attempt` (1-based): Retry-After when the
 * server gave one (capped at an hour), else full-jitter exponential backoff.
 */
export function backoffMs(attempt: number, retryAfterS: number | undefined, random: number): number {
  if (retryAfterS !== undefined && Number.isFinite(retryAfterS) && retryAfterS >= 0) return Math.min(MAX_RETRY_AFTER_MS, Math.round(retryAfterS * 1000));
  return Math.floor(random * BACKOFF_BASE_MS * 2 ** (attempt - 1));
}

/** The upper bound of each full-jitter wait, for --help and docs. */
export function backoffCaps(): number[] {
  return Array.from({ length: MAX_TRIES - 1 }, (_, i) => BACKOFF_BASE_MS * 2 ** i);
}
