/**
 * limits — how fast anyone may guess a secret or register laptops
 * (issue #16 §5): a guesser is slowed, the owner is never locked out.
 *
 * Every secret check (restore code, admin password, enrollment key, one-time
 * link, device/admin token) names a client *address* and the *account* the
 * secret belongs to ('admin', 'enroll', a serial, or '' for secrets bound to
 * no account). Three rules, each a pure function of its state with a reason:
 *
 *  - pair (address, account): PAIR.free failures are free; after that each
 *    failure doubles a wait (PAIR.baseMs · 2^k, at most PAIR.maxMs). A
 *    success clears it, and so does an hour without failures. This is what slows the guesser at address A.
 *  - address: a token bucket of ADDRESS failures across all accounts (one
 *    address spraying many serials is slowed too); never touches others.
 *  - account: a token bucket of ACCOUNT failures from all addresses, high
 *    enough that normal typos never reach it. When it is empty the account is
 *    *guarded*: addresses that already failed on it wait, while an address
 *    with no failure on it (the owner elsewhere) or one that signed in to it
 *    before keeps its attempts. So no one can lock the owner out, and a
 *    guesser needs ever new addresses, each slowed after PAIR.free tries.
 *
 * Bearer tokens (256 random bits) cannot be guessed; wrong ones only count
 * in a per-address TOKEN bucket that caps floods.
 *
 * Registration (POST /api/v1/devices): a bucket per address and one for the
 * whole server (REGISTER_*); a wrong enrollment key is a failure of account
 * 'enroll' under the rules above.
 *
 * State lives in memory (a restart forgets it: fine for a school server) in
 * LRU maps capped at MAX_TRACKED keys each, so a flood of addresses costs
 * bounded memory (the oldest entries are forgotten first).
 */

import { AppError } from '../../platform/errors.js';

export interface Bucket {
  tokens: number;
  at: number;
}
export interface BucketPolicy {
  capacity: number;
  /** ms for one token to come back. */
  refillMs: number;
}

/** `forgetMs` after its last failure a pair starts again from zero. */
export const PAIR = { free: 5, baseMs: 30_000, maxMs: 15 * 60_000, forgetMs: 3600_000 };
export const ADDRESS: BucketPolicy = { capacity: 30, refillMs: 60_000 };
export const ACCOUNT: BucketPolicy = { capacity: 100, refillMs: 5 * 60_000 };
export const REGISTER_ADDRESS: BucketPolicy = { capacity: 20, refillMs: 6_000 };
export const REGISTER_GLOBAL: BucketPolicy = { capacity: 300, refillMs: 200 };
/** Wrong device/admin tokens per address: 256-bit secrets are not guessed, so this only caps floods. */
export const TOKEN: BucketPolicy = { capacity: 1000, refillMs: 100 };
export const MAX_TRACKED = 10_000;

/** A bucket's level at `now` (full when never seen). */
export function refill(b: Bucket | undefined, now: number, p: BucketPolicy): Bucket {
  if (!b) return { tokens: p.capacity, at: now };
  const tokens = Math.min(p.capacity, b.tokens + Math.max(0, now - b.at) / p.refillMs);
  return { tokens, at: now };
}

/** ms until the bucket holds one whole token. */
export function bucketWait(b: Bucket, p: BucketPolicy): number {
  return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) * p.refillMs);
}

export interface PairState {
  failures: number;
  last: number;
}

/** The wait the pair rule imposes at `now` (0 = may try). */
export function pairWait(s: PairState | undefined, now: number, p = PAIR): number {
  if (!s || s.failures < p.free) return 0;
  const wait = Math.min(p.maxMs, p.baseMs * 2 ** (s.failures - p.free));
  return Math.max(0, s.last + wait - now);
}

export type Verdict =
  | { allow: true }
  | {
      allow: false;
      reason: 'pair-backoff' | 'address-rate' | 'account-guarded' | 'register-rate';
      retryAfterMs: number;
    };

export interface AttemptFacts {
  pair?: PairState;
  address?: Bucket;
  account?: Bucket;
  /** The address signed in to this account before (known to be the owner's). */
  knownGood: boolean;
}

/** May this address try a secret of this account now? The pure rule, with its reason. */
export function attemptVerdict(f: AttemptFacts, now: number): Verdict {
  const pw = pairWait(f.pair, now);
  if (pw > 0) return { allow: false, reason: 'pair-backoff', retryAfterMs: pw };
  const a = refill(f.address, now, ADDRESS);
  if (a.tokens < 1) return { allow: false, reason: 'address-rate', retryAfterMs: bucketWait(a, ADDRESS) };
  const acc = refill(f.account, now, ACCOUNT);
  if (acc.tokens < 1 && (f.pair?.failures ?? 0) > 0 && !f.knownGood)
    return { allow: false, reason: 'account-guarded', retryAfterMs: bucketWait(acc, ACCOUNT) };
  return { allow: true };
}

/** A Map that forgets its least recently used keys beyond `cap`. */
export class Lru<V> {
  private m = new Map<string, V>();
  constructor(readonly cap = MAX_TRACKED) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    while (this.m.size > this.cap) this.m.delete(this.m.keys().next().value as string);
  }
  delete(k: string): void {
    this.m.delete(k);
  }
  get size(): number {
    return this.m.size;
  }
}

/** One key per client: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 (one host's addresses). */
export function addressKey(ip: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1];
  if (!ip.includes(':')) return ip;
  const [head, tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const full = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${full.slice(0, 4).join(':')}::/64`;
}

export class SecretLimiter {
  private pairs = new Lru<PairState>();
  private addresses = new Lru<Bucket>();
  private accounts = new Lru<Bucket>();
  private good = new Lru<true>();
  private tokens = new Lru<Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  private facts(addr: string, account: string): AttemptFacts {
    const a = addressKey(addr);
    return {
      pair: this.pairs.get(`${a}|${account}`),
      address: this.addresses.get(a),
      account: account ? this.accounts.get(account) : undefined,
      knownGood: account !== '' && this.good.get(`${a}|${account}`) === true,
    };
  }

  check(addr: string, account: string): Verdict {
    return attemptVerdict(this.facts(addr, account), this.now());
  }

  fail(addr: string, account: string): void {
    const t = this.now();
    const a = addressKey(addr);
    const pk = `${a}|${account}`;
    const pair = this.pairs.get(pk);
    const before = pair && t - pair.last < PAIR.forgetMs ? pair.failures : 0;
    this.pairs.set(pk, { failures: before + 1, last: t });
    const ab = refill(this.addresses.get(a), t, ADDRESS);
    this.addresses.set(a, { tokens: Math.max(0, ab.tokens - 1), at: t });
    if (account) {
      const cb = refill(this.accounts.get(account), t, ACCOUNT);
      this.accounts.set(account, { tokens: Math.max(0, cb.tokens - 1), at: t });
    }
  }

  succeed(addr: string, account: string): void {
    const a = addressKey(addr);
    this.pairs.delete(`${a}|${account}`);
    if (account) this.good.set(`${a}|${account}`, true);
  }

  /**
   * Checks `verify` under the limits: 'limited' (the secret was not even
   * looked at), 'wrong' (counted as a failure) or 'ok'.
   */
  attempt(
    addr: string,
    account: string,
    verify: () => boolean,
  ): { result: 'ok' | 'wrong' } | { result: 'limited'; verdict: Verdict & { allow: false } } {
    const v = this.check(addr, account);
    if (!v.allow) return { result: 'limited', verdict: v };
    if (!verify()) {
      this.fail(addr, account);
      return { result: 'wrong' };
    }
    this.succeed(addr, account);
    return { result: 'ok' };
  }

  /** May this address present another bearer token (TOKEN bucket)? */
  checkToken(addr: string): Verdict {
    const b = refill(this.tokens.get(addressKey(addr)), this.now(), TOKEN);
    return b.tokens >= 1
      ? { allow: true }
      : { allow: false, reason: 'address-rate', retryAfterMs: bucketWait(b, TOKEN) };
  }

  failToken(addr: string): void {
    const a = addressKey(addr);
    const b = refill(this.tokens.get(a), this.now(), TOKEN);
    this.tokens.set(a, { tokens: Math.max(0, b.tokens - 1), at: b.at });
  }

  /** Tracked keys (tests: memory stays bounded). */
  sizes(): { pairs: number; addresses: number; accounts: number } {
    return { pairs: this.pairs.size, addresses: this.addresses.size, accounts: this.accounts.size };
  }
}

/** Registrations: a bucket per address and one for the server; the pure rule. */
export function registerVerdict(address: Bucket | undefined, global: Bucket | undefined, now: number): Verdict {
  const g = refill(global, now, REGISTER_GLOBAL);
  if (g.tokens < 1) return { allow: false, reason: 'register-rate', retryAfterMs: bucketWait(g, REGISTER_GLOBAL) };
  const a = refill(address, now, REGISTER_ADDRESS);
  if (a.tokens < 1) return { allow: false, reason: 'register-rate', retryAfterMs: bucketWait(a, REGISTER_ADDRESS) };
  return { allow: true };
}

export class RegisterLimiter {
  private addresses = new Lru<Bucket>();
  private global: Bucket | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes one registration token, or says how long to wait. */
  take(addr: string): Verdict {
    const t = this.now();
    const a = addressKey(addr);
    const v = registerVerdict(this.addresses.get(a), this.global, t);
    if (!v.allow) return v;
    const ab = refill(this.addresses.get(a), t, REGISTER_ADDRESS);
    this.addresses.set(a, { tokens: ab.tokens - 1, at: t });
    const g = refill(this.global, t, REGISTER_GLOBAL);
    this.global = { tokens: g.tokens - 1, at: t };
    return v;
  }
}

/** Whole seconds for Retry-After (at least 1). */
export function retryAfterSec(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The API's answer to a refused attempt: 429 rate_limited with Retry-After. */
export function rateLimited(v: Verdict & { allow: false }, what: string): AppError {
  const s = retryAfterSec(v.retryAfterMs);
  const wait = s >= 120 ? `${Math.ceil(s / 60)} minutes` : `${s} s`;
  return new AppError('rate_limited', `too many ${what} from this address; retry in ${wait}`, {
    retryAfter: s,
    details: { reason: v.reason },
  });
}
