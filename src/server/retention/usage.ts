/**
 * usage — the quota's model of "what would an account still use if these
 * snapshots went away" (quota.ts UsageModel), built from the disk.
 *
 * An account's usage is the bytes of the distinct trees and blobs its
 * snapshots and pins reference (account_blobs after refs.recomputeAccount).
 * For an account that loses snapshots in the plan, each snapshot's closure
 * is walked once and every object counted per snapshot; an object is freed
 * for that account when every snapshot (and pin) holding it is removed.
 * Store-wide `freed` adds those per-account figures, which overestimates
 * when accounts share blobs: the plan then stops early (errs toward keeping)
 * and the next daily run continues.
 */
import type { Pin } from './pins.js';
import { closure, closureSync } from './refs.js';
import type { UsageModel } from './quota.js';
import type { Store } from '../store/store.js';
import { snapshotOwners, snapshotRoots } from '../catalog/snapshots.js';

interface AccountDetail {
  base: number;
  counts: Map<string, number>;
  sizes: Map<string, number>;
  snaps: Map<number, Set<string>>;
}

export class StoreUsage implements UsageModel {
  private details = new Map<number, AccountDetail>();
  private owner = new Map<number, number>();
  private pinned = new Map<number, number>();

  constructor(
    private readonly store: Store,
    private readonly base: Map<number, number>,
    private readonly pins: Map<number, Pin[]>,
  ) {
    for (const r of snapshotOwners(store.db)) this.owner.set(r.id, r.account_id);
  }

  /**
   * Walks every account's closures ahead (a store without synchronous reads,
   * e.g. S3: the planner asks synchronously). Locally they are walked when
   * first asked, on the synchronous reads.
   */
  async prepare(): Promise<void> {
    if (this.store.pool.local) return;
    for (const a of new Set([...this.owner.values(), ...this.pins.keys()])) {
      const pins = this.pins.get(a) ?? [];
      const pinned = await closure(
        this.store,
        pins.flatMap((p) => p.trees),
        pins.flatMap((p) => p.blobs),
      );
      const snaps: Array<[number, Map<string, number>]> = [];
      for (const s of snapshotRoots(this.store.db, a)) snaps.push([s.id, (await closure(this.store, [s.root])).sizes]);
      this.details.set(a, this.detailOf(a, snaps, pinned.sizes));
      this.pinned.set(a, sum(pinned.sizes.values()));
    }
  }

  private detail(accountId: number): AccountDetail {
    let d = this.details.get(accountId);
    if (d) return d;
    const snaps = snapshotRoots(this.store.db, accountId).map(
      (s) => [s.id, closureSync(this.store, [s.root]).sizes] as [number, Map<string, number>],
    );
    const pins = this.pins.get(accountId) ?? [];
    const pinned = closureSync(
      this.store,
      pins.flatMap((p) => p.trees),
      pins.flatMap((p) => p.blobs),
    ).sizes;
    d = this.detailOf(accountId, snaps, pinned);
    this.details.set(accountId, d);
    return d;
  }

  private detailOf(
    accountId: number,
    closures: Array<[number, Map<string, number>]>,
    pinned: Map<string, number>,
  ): AccountDetail {
    const counts = new Map<string, number>();
    const sizes = new Map<string, number>();
    const snaps = new Map<number, Set<string>>();
    const add = (ids: Map<string, number>) => {
      for (const [id, size] of ids) {
        counts.set(id, (counts.get(id) ?? 0) + 1);
        sizes.set(id, size);
      }
    };
    for (const [id, c] of closures) {
      snaps.set(id, new Set(c.keys()));
      add(c);
    }
    add(pinned);
    return { base: this.base.get(accountId) ?? 0, counts, sizes, snaps };
  }

  private dropped(accountId: number, removed: ReadonlySet<number>): { bytes: number; objects: number } {
    const mine = [...removed].filter((id) => this.owner.get(id) === accountId);
    if (!mine.length) return { bytes: 0, objects: 0 };
    const d = this.detail(accountId);
    const dec = new Map<string, number>();
    for (const sid of mine) for (const id of d.snaps.get(sid) ?? []) dec.set(id, (dec.get(id) ?? 0) + 1);
    let bytes = 0;
    let objects = 0;
    for (const [id, n] of dec) {
      if (n >= d.counts.get(id)!) {
        bytes += d.sizes.get(id)!;
        objects++;
      }
    }
    return { bytes, objects };
  }

  usage(accountId: number, removed: ReadonlySet<number>): number {
    return (this.base.get(accountId) ?? 0) - this.dropped(accountId, removed).bytes;
  }

  pinnedBytes(accountId: number): number {
    let b = this.pinned.get(accountId);
    if (b === undefined) {
      const pins = this.pins.get(accountId) ?? [];
      b = sum(
        closureSync(
          this.store,
          pins.flatMap((p) => p.trees),
          pins.flatMap((p) => p.blobs),
        ).sizes.values(),
      );
      this.pinned.set(accountId, b);
    }
    return b;
  }

  freed(removed: ReadonlySet<number>): { bytes: number; objects: number } {
    const accounts = new Set([...removed].map((id) => this.owner.get(id)!));
    let bytes = 0;
    let objects = 0;
    for (const a of accounts) {
      const d = this.dropped(a, removed);
      bytes += d.bytes;
      objects += d.objects;
    }
    return { bytes, objects };
  }
}

function sum(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}
