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
 * The decision itself is the pure function `decide()` so it can be tested and
 * explained; the Admission class holds the live state.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../common/errors.js';

export interface AdmissionPolicy {
  maxConcurrent: number;
  leaseTimeoutMs: number;
  loadLimit: number;
  diskLimitPct: number;
}

export const DEFAULT_POLICY: AdmissionPolicy = { maxConcurrent: 10, leaseTimeoutMs: 120_000, loadLimit: 5, diskLimitPct: 90 };

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
}

export type Decision = { grant: true } | { grant: false; reason: 'slots' | 'load' | 'disk'; retryAfter: number };

/** Pure admission rule: grant, or refuse with the reason and a wait. */
export function decide(policy: AdmissionPolicy, s: SystemState, jitter: number): Decision {
  const spread = (base: number) => Math.round(base * (1 + jitter));
  if (s.diskUsedPct > policy.diskLimitPct) return { grant: false, reason: 'disk', retryAfter: spread(1800) };
  if (s.load1 > policy.loadLimit) return { grant: false, reason: 'load', retryAfter: spread(120) };
  if (s.active >= policy.maxConcurrent) return { grant: false, reason: 'slots', retryAfter: spread(60) };
  return { grant: true };
}

export class Admission {
  private leases = new Map<string, Lease>();
  readonly counters = { granted: 0, refusedSlots: 0, refusedLoad: 0, refusedDisk: 0, expired: 0, released: 0 };
  peakActive = 0;

  constructor(
    readonly policy: AdmissionPolicy,
    private readonly system: () => { load1: number; diskUsedPct: number },
    private readonly now: () => number = Date.now,
  ) {}

  private sweep(): void {
    const t = this.now();
    for (const [id, l] of this.leases) {
      if (l.expiresAt <= t) {
        this.leases.delete(id);
        this.counters.expired++;
      }
    }
  }

  active(): Lease[] {
    this.sweep();
    return [...this.leases.values()];
  }

  /**
   * Grants a lease or throws `busy` with Retry-After. `timeoutMs` overrides
   * the policy's lease timeout (legacy rsync clients never heartbeat, so
   * their lease lasts a whole rsync run).
   */
  request(deviceId: number, serial: string, timeoutMs = this.policy.leaseTimeoutMs): Lease {
    this.sweep();
    for (const [id, l] of this.leases) if (l.deviceId === deviceId) this.leases.delete(id);
    const sys = this.system();
    const d = decide(this.policy, { active: this.leases.size, ...sys }, Math.random());
    if (!d.grant) {
      if (d.reason === 'slots') this.counters.refusedSlots++;
      else if (d.reason === 'load') this.counters.refusedLoad++;
      else this.counters.refusedDisk++;
      throw new AppError('busy', `server busy (${d.reason}); retry in ${d.retryAfter} s`, { retryAfter: d.retryAfter });
    }
    const t = this.now();
    const lease: Lease = { id: randomBytes(16).toString('hex'), deviceId, serial, grantedAt: t, expiresAt: t + timeoutMs };
    this.leases.set(lease.id, lease);
    this.counters.granted++;
    this.peakActive = Math.max(this.peakActive, this.leases.size);
    return lease;
  }

  /** The live lease `id` of this device; extends it (every request is a heartbeat). */
  touch(id: string, deviceId: number): Lease {
    this.sweep();
    const l = this.leases.get(id);
    if (!l || l.deviceId !== deviceId) throw new AppError('lease_expired', 'backup lease expired or unknown; start the backup again');
    l.expiresAt = this.now() + this.policy.leaseTimeoutMs;
    return l;
  }

  release(id: string): void {
    if (this.leases.delete(id)) this.counters.released++;
  }
}
