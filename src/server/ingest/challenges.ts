/**
 * challenges — the server's side of proof of possession (protocol/proof.ts).
 *
 * issue(): a fresh 32-byte nonce for the ids of one `missing` answer that
 * the pool has and the account does not own, kept in memory with its lease
 * and account. take(): the nonce's challenge, removed (single use), only for
 * the same lease and account. A lease holds at most CHALLENGE_IDS_MAX
 * unanswered ids (its oldest challenges are forgotten first); its challenges
 * end with it (drop on commit and abort, sweep once it expired). A server
 * restart forgets them all: the laptop then uploads instead.
 *
 * verify(): HMAC-SHA256 under the nonce over the stored copy of each
 * challenged blob, streamed from the store (bounded memory; the read is
 * hash-verified, so a damaged copy proves nothing), compared with
 * crypto.timingSafeEqual. Ids the proofs name that were not challenged are
 * ignored; challenged ids without a proof are refused.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../platform/errors.js';
import type { Challenge } from '../../protocol/api-types.js';
import { CHALLENGE_IDS_MAX } from '../../protocol/limits.js';
import { proofHmac } from '../../protocol/proof.js';
import type { Pool } from '../store/pool.js';

interface Open {
  lease: string;
  accountId: number;
  ids: Set<string>;
}

export class Challenges {
  private byNonce = new Map<string, Open>();
  /** Nonces of each lease, oldest first. */
  private byLease = new Map<string, string[]>();

  constructor(private readonly isLive: (lease: string) => boolean) {}

  issue(lease: string, accountId: number, ids: string[]): Challenge {
    this.sweep();
    const nonce = randomBytes(32).toString('hex');
    const mine = this.byLease.get(lease) ?? [];
    this.byLease.set(lease, mine);
    mine.push(nonce);
    this.byNonce.set(nonce, { lease, accountId, ids: new Set(ids) });
    let open = mine.reduce((n, k) => n + this.byNonce.get(k)!.ids.size, 0);
    while (open > CHALLENGE_IDS_MAX && mine.length > 1) {
      const old = mine.shift()!;
      open -= this.byNonce.get(old)!.ids.size;
      this.byNonce.delete(old);
    }
    return { nonce, ids };
  }

  /** The challenge of `nonce`, used up; a 409 when unknown, used, expired or another lease's. */
  take(lease: string, accountId: number, nonce: string): Set<string> {
    const c = this.byNonce.get(nonce);
    if (!c || c.lease !== lease || c.accountId !== accountId || !this.isLive(lease))
      throw new AppError('conflict', 'unknown, used or expired challenge; upload those blobs or ask again');
    this.byNonce.delete(nonce);
    const mine = this.byLease.get(lease)!;
    mine.splice(mine.indexOf(nonce), 1);
    return c.ids;
  }

  drop(lease: string): void {
    for (const n of this.byLease.get(lease) ?? []) this.byNonce.delete(n);
    this.byLease.delete(lease);
  }

  sweep(): void {
    for (const lease of this.byLease.keys()) if (!this.isLive(lease)) this.drop(lease);
  }

  /** Checks the proofs of a taken challenge against the pool's copies. */
  async verify(
    pool: Pool,
    nonce: string,
    ids: ReadonlySet<string>,
    proofs: Record<string, string>,
  ): Promise<{ proven: string[]; refused: string[] }> {
    const out = { proven: [] as string[], refused: [] as string[] };
    for (const id of ids) {
      const given = Object.hasOwn(proofs, id) ? proofs[id] : undefined;
      const want = given === undefined ? null : await this.hmacOf(pool, nonce, id);
      const ok = want !== null && timingSafeEqual(want, Buffer.from(given!, 'hex'));
      (ok ? out.proven : out.refused).push(id);
    }
    return out;
  }

  /** HMAC of the stored blob, or null when it is gone (collected, damaged: the laptop uploads it). */
  private async hmacOf(pool: Pool, nonce: string, id: string): Promise<Buffer | null> {
    if ((await pool.blobSize(id)) < 0) return null;
    const h = proofHmac(nonce);
    try {
      for await (const c of pool.blobStream(id)) h.update(c as Buffer);
    } catch {
      return null; // gone meanwhile, or damaged (the verified read flagged it): the laptop uploads it
    }
    return h.digest();
  }
}
