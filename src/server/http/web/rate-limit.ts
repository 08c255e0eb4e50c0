/**
 * rate-limit — sign-in attempts, per IP address and per serial number.
 *
 * limitDecision() is the pure rule: at most `max` failures inside `windowMs`
 * per key; a refused attempt learns how long to wait. LoginLimiter keeps the
 * failure times in memory (a restart forgets them, which is fine for a
 * school server) and prunes old ones. A success does not erase failures of
 * the IP, so guessing many serials from one address stays limited.
 */
export interface LimitPolicy {
  max: number;
  windowMs: number;
}

export const IP_POLICY: LimitPolicy = { max: 20, windowMs: 15 * 60_000 };
export const SERIAL_POLICY: LimitPolicy = { max: 5, windowMs: 15 * 60_000 };

export type LimitDecision = { allow: true } | { allow: false; retryAfterMs: number };

export function limitDecision(failures: number[], now: number, p: LimitPolicy): LimitDecision {
  const recent = failures.filter((t) => t > now - p.windowMs);
  if (recent.length < p.max) return { allow: true };
  return { allow: false, retryAfterMs: Math.min(...recent) + p.windowMs - now };
}

export class LoginLimiter {
  private failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  private policy(key: string): LimitPolicy {
    return key.startsWith('ip:') ? IP_POLICY : SERIAL_POLICY;
  }

  /** Checks every key; the first refusal wins. */
  check(keys: string[]): LimitDecision {
    const t = this.now();
    for (const k of keys) {
      const d = limitDecision(this.failures.get(k) ?? [], t, this.policy(k));
      if (!d.allow) return d;
    }
    return { allow: true };
  }

  fail(keys: string[]): void {
    const t = this.now();
    for (const k of keys) {
      const p = this.policy(k);
      const list = (this.failures.get(k) ?? []).filter((x) => x > t - p.windowMs);
      list.push(t);
      this.failures.set(k, list);
    }
    if (this.failures.size > 10_000)
      for (const [k, v] of this.failures) if (!v.some((x) => x > t - IP_POLICY.windowMs)) this.failures.delete(k);
  }

  succeed(serialKey: string): void {
    this.failures.delete(serialKey);
  }
}
