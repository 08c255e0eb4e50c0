/**
 * refs — what references what: closures of trees, per-account references
 * (account_blobs) recomputed from the disk, and a compact set of marked ids.
 *
 * closure(): every tree and blob reachable from some roots, each once, with
 * its size (a tree's size is its text's bytes). recomputeAccount() walks an
 * account's snapshot roots and pins and makes account_blobs equal to that
 * closure — after snapshots go away, downloads of what only they held stop
 * being authorized and the usage figure is exact.
 *
 * IdSet holds marked ids for the sweep in 8 bytes each (the first 52 bits of
 * the id): a collision can only keep an unreachable object, never delete a
 * reachable one.
 */
import { walkTrees, walkTreesAsync } from '../store/tree-walk.js';
import { needSync, treeKey } from '../store/object-store.js';
import { blobsOf, type Tree } from '../../protocol/tree.js';
import type { Pin } from './pins.js';
import type { Store } from '../store/store.js';
import { snapshotRoots } from '../catalog/snapshots.js';
import { accountReferences, changeReferences } from '../catalog/refs.js';

export class IdSet {
  private keys = new Float64Array(1 << 16);
  private count = 0;

  private static key(id: string): number {
    return parseInt(id.slice(0, 13), 16) || 1;
  }

  private slot(keys: Float64Array, k: number): number {
    const mask = keys.length - 1;
    let i = (k % 4294967291) & mask;
    while (keys[i] !== 0 && keys[i] !== k) i = (i + 1) & mask;
    return i;
  }

  add(id: string): void {
    if (this.count * 2 >= this.keys.length) this.grow();
    const k = IdSet.key(id);
    const i = this.slot(this.keys, k);
    if (this.keys[i] === 0) {
      this.keys[i] = k;
      this.count++;
    }
  }

  has(id: string): boolean {
    const k = IdSet.key(id);
    return this.keys[this.slot(this.keys, k)] === k;
  }

  get size(): number {
    return this.count;
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Float64Array(old.length * 2);
    for (const k of old) if (k !== 0) this.keys[this.slot(this.keys, k)] = k;
  }
}

export interface Closure {
  /** id → size; trees and blobs alike. */
  sizes: Map<string, number>;
  trees: number;
}

/**
 * Every tree and blob reachable from `trees` plus `blobs`. A missing or
 * unparsable tree throws — unless `keepGoing` (what GC must keep): then it
 * counts with size 0 and the walk goes on with every tree that can be read.
 */
export async function closure(
  store: Store,
  trees: Iterable<string>,
  blobs: Iterable<[string, number]> = [],
  keepGoing = false,
): Promise<Closure> {
  const c = new ClosureWalk(blobs, keepGoing);
  await walkTreesAsync(
    trees,
    async (id) => {
      try {
        return c.visit(id, await store.pool.readTree(id));
      } catch (e) {
        return c.failed(id, e);
      }
    },
    c.seen,
  );
  return c.result();
}

/** closure() on the local store's synchronous reads (the quota's model; stores without them: see StoreUsage.prepare). */
export function closureSync(
  store: Store,
  trees: Iterable<string>,
  blobs: Iterable<[string, number]> = [],
  keepGoing = false,
): Closure {
  const local = needSync(store.objects, 'the quota model');
  const c = new ClosureWalk(blobs, keepGoing);
  walkTrees(
    trees,
    (id) => {
      try {
        return c.visit(id, local.read(treeKey(id)).toString('utf8'));
      } catch (e) {
        return c.failed(id, e);
      }
    },
    c.seen,
  );
  return c.result();
}

/** One closure walk's state: `sizes` is its seen set (an id is added with its size when its tree is read). */
class ClosureWalk {
  private sizes = new Map<string, number>();
  private trees = 0;
  readonly seen = { has: (id: string) => this.sizes.has(id), add: () => {} };

  constructor(
    blobs: Iterable<[string, number]>,
    private readonly keepGoing: boolean,
  ) {
    for (const [id, size] of blobs) this.sizes.set(id, size);
  }

  visit(id: string, text: string): Tree {
    const tree = JSON.parse(text) as Tree;
    if (this.sizes.has(id)) return { v: 1, e: [] }; // read twice by parallel opens: counted once
    this.sizes.set(id, Buffer.byteLength(text));
    this.trees++;
    for (const e of tree.e)
      for (const [blob, size] of blobsOf(e)) if (!this.sizes.has(blob)) this.sizes.set(blob, size);
    return tree;
  }

  failed(id: string, e: unknown): null {
    if (!this.keepGoing) throw e;
    this.sizes.set(id, 0); // kept (marked), its children unknown
    return null;
  }

  result(): Closure {
    return { sizes: this.sizes, trees: this.trees };
  }
}

export function accountRoots(
  store: Store,
  accountId: number,
  pins: Pin[],
  without: ReadonlySet<number> = new Set(),
): { trees: string[]; blobs: Array<[string, number]> } {
  const rows = snapshotRoots(store.db, accountId);
  const roots = [...new Set(rows.filter((r) => !without.has(r.id)).map((r) => r.root))];
  return { trees: [...roots, ...pins.flatMap((p) => p.trees)], blobs: pins.flatMap((p) => p.blobs) };
}

/** Makes account_blobs of one account equal to the closure of its snapshots and pins. */
export async function recomputeAccount(
  store: Store,
  accountId: number,
  pins: Pin[],
  dryRun = false,
  without?: ReadonlySet<number>,
): Promise<{ closure: Closure; added: number; dropped: string[]; bytes: number }> {
  const r = accountRoots(store, accountId, pins, without);
  const db = store.db;
  // Read before the walk: references a commit adds while it reads trees are not dropped.
  const existing = accountReferences(db, accountId);
  const c = await closure(store, r.trees, r.blobs);
  let bytes = 0;
  for (const s of c.sizes.values()) bytes += s;
  const had = new Set(existing);
  const dropped = existing.filter((id) => !c.sizes.has(id));
  const fresh = [...c.sizes].filter(([id]) => !had.has(id));
  if (dryRun) return { closure: c, added: fresh.length, dropped, bytes };
  const added = fresh.length;
  changeReferences(db, accountId, dropped, fresh);
  return { closure: c, added, dropped, bytes };
}
