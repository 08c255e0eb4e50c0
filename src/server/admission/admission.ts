/**
 * admission — traffic control: who may back up now.
 *
 * A backup runs under a lease. At most `maxConcurrent` leases live at once; a
 * lease lives while its client heartbeats and expires `leaseTimeoutMs` after
 * the last one, freeing its slot (no permanent leaks). A refused request gets
 * a `busy` error carrying Retry-After seconds. One device holds at most one
 * lease: asking again replaces the old one (an agent that was killed and
 * restarted does not wait for its own ghost).
 *
 * When slots are contended, laptops whose last successful backup is oldest
 * go first: refused laptops wait in a queue (admission-queue.ts) that holds
 * freed slots briefly for waiters whose last success is on an earlier day,
 * and Retry-After is spread by queue position and jitter so waiters do not
 * come back in a herd. The
 * typical lease length (EWMA of completed leases) scales Retry-After.
 *
 * A high load (per core) refuses, but never a laptop whose last backup is
 * days old (load-policy.ts).
 *
 * The decision itself is the pure function `decide()` so it can be tested and
 * explained; the Admission class holds the live state and counts every
 * decision (GET /api/v1/status shows them).
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../../platform/errors.js';
import { slotsRetryAfter, WaitQueue } from './admission-queue.js';
import { LatencyWindow } from './latency.js';
import { loadVerdict } from './load-policy.js';

export interface AdmissionPolicy {
  maxConcurrent: number;
  leaseTimeoutMs: number;
  /** Per core: the 1-minute load average divided by the cores (load-policy.ts). */
  loadLimit: number;
  diskLimitPct: number;
}

export const DEFAULT_POLICY: AdmissionPolicy = {
  maxConcurrent: 10,
  leaseTimeoutMs: 120_000,
  loadLimit: 2,
  diskLimitPct: 90,
};
/** Assumed lease length for decide() callers that do not say. */
export const INITIAL_LEASE_S = 30;

export interface Lease {
  id: string;
  deviceId: number;
  serial: string;
  grantedAt: number;
  expiresAt: number;
}

export interface SystemState {
  active: number;
  load1: number;
  diskUsedPct: number;
  /** Waiters of higher priority that hold a slot now (default 0). */
  held?: number;
  /** Waiters before this one in the queue (sets Retry-After; default = held). */
  position?: number;
  /** Typical lease length in seconds (default INITIAL_LEASE_S). */
  avgLeaseSec?: number;
  /** Cores the load is shared by (default 1). */
  cores?: number;
  /** The asking laptop's last successful backup (ms; null = never; absent = now, i.e. not overdue). */
  lastSuccess?: number | null;
  now?: number;
}

export type RefuseReason = 'slots' | 'priority' | 'load' | 'disk';
export type Decision = { grant: true } | { grant: false; reason: RefuseReason; retryAfter: number };

/**
 * Pure admission rule: grant, or refuse with the reason and a wait.
 * 'priority' = a slot is free but held for a laptop that waited with an older
 * last backup.
 */
export function decide(policy: AdmissionPolicy, s: SystemState, jitter: number): Decision {
  const spread = (base: number) => Math.round(base * (1 + jitter));
  const held = s.held ?? 0;
  if (s.diskUsedPct > policy.diskLimitPct) return { grant: false, reason: 'disk', retryAfter: spread(1800) };
  const now = s.now ?? 0;
  const load = loadVerdict({
    load1: s.load1,
    cores: s.cores ?? 1,
    limitPerCore: policy.loadLimit,
    lastSuccess: s.lastSuccess === undefined ? now : s.lastSuccess,
    now,
  });
  if (!load.ok) return { grant: false, reason: 'load', retryAfter: spread(120) };
  if (s.active + held >= policy.maxConcurrent) {
    const retryAfter = slotsRetryAfter(
      s.position ?? held,
      policy.maxConcurrent,
      s.avgLeaseSec ?? INITIAL_LEASE_S,
      jitter,
    );
    return { grant: false, reason: s.active >= policy.maxConcurrent ? 'slots' : 'priority', retryAfter };
  }
  return { grant: true };
}

export class Admission {
  private leases = new Map<string, Lease>();
  /** Called for every lease that expired (never for a released one). */
  readonly onExpired: Array<(l: Lease) => void> = [];
  readonly queue: WaitQueue;
  readonly counters = {
    granted: 0,
    refusedSlots: 0,
    refusedPriority: 0,
    refusedLoad: 0,
    refusedDisk: 0,
    expired: 0,
    released: 0,
    replaced: 0,
  };
  /** Time to answer POST /api/v1/backups (ms), recorded by the status routes. */
  readonly latency = new LatencyWindow();
  peakActive = 0;
  /** EWMA of completed lease lengths (s); 0 until one completed. */
  avgLeaseSec = 0;
  private leaseSamples = 0;
  /** Told when a lease ends (metrics: lease durations, expired backups). */
  onLeaseEnd?: (lease: Lease, end: 'released' | 'expired' | 'replaced', now: number) => void;

  constructor(
    readonly policy: AdmissionPolicy,
    private readonly system: () => { load1: number; diskUsedPct: number; cores?: number },
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.queue = new WaitQueue(now);
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, l] of this.leases) {
      if (l.expiresAt <= t) {
        this.leases.delete(id);
        this.counters.expired++;
        this.onLeaseEnd?.(l, 'expired', t);
        for (const f of this.onExpired) f(l);
      }
    }
  }

  active(): Lease[] {
    this.sweep();
    return [...this.leases.values()];
  }

  /**
   * Grants a lease or throws `busy` with Retry-After. `lastSuccess` is the
   * device's last successful backup (ms), null when it never had one;
   * `timeoutMs` overrides the policy's lease timeout (legacy rsync clients
   * never heartbeat, so their lease lasts a whole rsync run).
   */
  request(deviceId: number, serial: string, opts: { lastSuccess?: number | null; timeoutMs?: number } = {}): Lease {
    const lastSuccess = opts.lastSuccess ?? null;
    const timeoutMs = opts.timeoutMs ?? this.policy.leaseTimeoutMs;
    this.sweep();
    for (const [id, l] of this.leases) {
      if (l.deviceId === deviceId) {
        this.leases.delete(id);
        this.counters.replaced++;
        this.onLeaseEnd?.(l, 'replaced', this.now());
      }
    }
    const me = this.queue.candidate(deviceId, lastSuccess);
    const s = {
      active: this.leases.size,
      ...this.system(),
      held: this.queue.heldFor(me),
      position: this.queue.position(me),
      avgLeaseSec: this.leaseEstimate(),
      lastSuccess,
      now: this.now(),
    };
    const d = decide(this.policy, s, this.random());
    if (!d.grant) {
      const key = `refused${d.reason[0].toUpperCase()}${d.reason.slice(1)}` as 'refusedSlots';
      this.counters[key]++;
      if (d.reason === 'slots' || d.reason === 'priority') this.queue.refused(me, d.retryAfter);
      if (d.reason === 'disk')
        throw new AppError(
          'disk_full',
          `server disk full (over ${this.policy.diskLimitPct} % used); no backups until space is freed`,
          {
            retryAfter: d.retryAfter,
          },
        );
      const why = d.reason === 'priority' ? 'slots held for laptops waiting longer' : d.reason;
      throw new AppError('busy', `server busy (${why}); retry in ${d.retryAfter} s`, { retryAfter: d.retryAfter });
    }
    this.queue.granted(deviceId);
    const t = this.now();
    const lease: Lease = {
      id: randomBytes(16).toString('hex'),
      deviceId,
      serial,
      grantedAt: t,
      expiresAt: t + timeoutMs,
    };
    this.leases.set(lease.id, lease);
    this.counters.granted++;
    this.peakActive = Math.max(this.peakActive, this.leases.size);
    return lease;
  }

  /** Typical lease length (s): the EWMA, or the oldest live lease's age before any completed. */
  leaseEstimate(): number {
    if (this.leaseSamples > 0 || this.avgLeaseSec > 0) return this.avgLeaseSec;
    const t = this.now();
    return Math.max(1, ...[...this.leases.values()].map((l) => (t - l.grantedAt) / 1000));
  }

  /** The live lease `id` of this device; extends it (every request is a heartbeat). */
  touch(id: string, deviceId: number): Lease {
    this.sweep();
    const l = this.leases.get(id);
    if (!l || l.deviceId !== deviceId)
      throw new AppError('lease_expired', 'backup lease expired or unknown; start the backup again');
    l.expiresAt = this.now() + this.policy.leaseTimeoutMs;
    return l;
  }

  /** The device's live lease, if any (does not extend it). */
  leaseOf(deviceId: number): Lease | undefined {
    return this.active().find((l) => l.deviceId === deviceId);
  }

  /** Moves a live lease's expiry to `untilMs` (legacy leases once their rsync session started). */
  extend(id: string, untilMs: number): void {
    const l = this.leases.get(id);
    if (l) l.expiresAt = untilMs;
  }

  release(id: string): void {
    const l = this.leases.get(id);
    if (!l) return;
    this.leases.delete(id);
    this.counters.released++;
    this.onLeaseEnd?.(l, 'released', this.now());
    const sec = Math.max(0.1, (this.now() - l.grantedAt) / 1000);
    this.leaseSamples++;
    this.avgLeaseSec = this.leaseSamples === 1 ? sec : this.avgLeaseSec * 0.9 + sec * 0.1;
  }

  /** Everything an operator wants to see (GET /api/v1/status). */
  snapshot() {
    const active = this.active();
    return {
      policy: { ...this.policy, leaseTimeoutSec: this.policy.leaseTimeoutMs / 1000 },
      active: active.length,
      peakActive: this.peakActive,
      waiting: this.queue.list().length,
      reserving: this.queue.reserving(),
      avgLeaseSec: Math.round(this.leaseEstimate() * 100) / 100,
      counters: { ...this.counters },
      latencyMs: this.latency.summary(),
      leases: active.map((l) => ({ serial: l.serial, grantedAt: l.grantedAt, expiresAt: l.expiresAt })),
    };
  }
}
