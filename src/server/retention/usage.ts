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
import { closure } from './refs.js';
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

  private detail(accountId: number): AccountDetail {
    let d = this.details.get(accountId);
    if (d) return d;
    const counts = new Map<string, number>();
    const sizes = new Map<string, number>();
    const snaps = new Map<number, Set<string>>();
    const add = (ids: Map<string, number>) => {
      for (const [id, size] of ids) {
        counts.set(id, (counts.get(id) ?? 0) + 1);
        sizes.set(id, size);
      }
    };
    for (const s of snapshotRoots(this.store.db, accountId)) {
      const c = closure(this.store, [s.root]).sizes;
      snaps.set(s.id, new Set(c.keys()));
      add(c);
    }
    const pins = this.pins.get(accountId) ?? [];
    add(
      closure(
        this.store,
        pins.flatMap((p) => p.trees),
        pins.flatMap((p) => p.blobs),
      ).sizes,
    );
    d = { base: this.base.get(accountId) ?? 0, counts, sizes, snaps };
    this.details.set(accountId, d);
    return d;
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
      b = 0;
      for (const s of closure(
        this.store,
        pins.flatMap((p) => p.trees),
        pins.flatMap((p) => p.blobs),
      ).sizes.values())
        b += s;
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
