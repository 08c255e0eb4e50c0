/**
 * schedule — the pure rules of the scheduled run (`ds-backup run`), each a
 * function of its inputs so tests drive them with a fake clock and random.
 *
 *  - done today: ds-backup-done was touched since local midnight (a stamp
 *    more than a day in the future is a clock error and does not count);
 *  - stagger: a random sleep in [0, maxSleep) so a school of laptops woken
 *    by the same timer tick does not arrive at once;
 *  - busy (503) without Retry-After: back off exponentially with full
 *    jitter — after busy try n (1…5) wait random × 240 s × 2^(n-1) (caps 4,
 *    8, 16, 32, 64 min: about an hour in all on average, the 2008 scripts'
 *    budget) — and give up after MAX_TRIES tries until the next tick;
 *  - busy with Retry-After: the server runs a queue and says when to come
 *    back, so wait exactly that, as often as it says, within the same hour
 *    of waiting (BUSY_BUDGET_MS): six short polls of a 5-second Retry-After
 *    must not end the day's chance. Give up when the next wait would pass
 *    the hour;
 *  - next attempt: tomorrow's local midnight after a success or a "done
 *    today" skip, else the next timer tick.
 */

export const MAX_TRIES = 6;
export const BACKOFF_BASE_MS = 240_000;
export const MAX_RETRY_AFTER_MS = 3_600_000;
export const BUSY_BUDGET_MS = 3_600_000;
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
  if (retryAfterS !== undefined && Number.isFinite(retryAfterS) && retryAfterS >= 0)
    return Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, Math.round(retryAfterS * 1000)));
  return Math.floor(random * BACKOFF_BASE_MS * 2 ** (attempt - 1));
}

export interface BusyState {
  /** Busy answers without Retry-After so far. */
  blind: number;
  /** Time waited for busy servers in this run (ms). */
  waitedMs: number;
}

/** After one more busy answer: give up, or how long to wait. */
export function busyStep(
  st: BusyState,
  retryAfterS: number | undefined,
  random: number,
): { giveUp: boolean; waitMs: number; state: BusyState } {
  const told = retryAfterS !== undefined && Number.isFinite(retryAfterS) && retryAfterS >= 0;
  const blind = st.blind + (told ? 0 : 1);
  const waitMs = backoffMs(blind, told ? retryAfterS : undefined, random);
  const giveUp = told ? st.waitedMs + waitMs > BUSY_BUDGET_MS : blind >= MAX_TRIES;
  return { giveUp, waitMs: giveUp ? 0 : waitMs, state: { blind, waitedMs: st.waitedMs + (giveUp ? 0 : waitMs) } };
}

/** The upper bound of each full-jitter wait, for --help and docs. */
export function backoffCaps(): number[] {
  return Array.from({ length: MAX_TRIES - 1 }, (_, i) => BACKOFF_BASE_MS * 2 ** i);
}
