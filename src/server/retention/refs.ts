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
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Tree } from '../../protocol/tree.js';
import type { Pin } from './pins.js';
import type { Store } from '../store/store.js';

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

let buf = Buffer.alloc(1 << 20);

/** A stored tree's text and size: one open/read/close into a reused buffer (the walk's hot path). */
function readTreeText(path: string): { text: string; size: number } {
  const fd = openSync(path, 'r');
  try {
    let n = readSync(fd, buf, 0, buf.length, 0);
    if (n === buf.length) {
      buf = Buffer.alloc(Math.max(buf.length * 2, fstatSync(fd).size + 1));
      n = readSync(fd, buf, 0, buf.length, 0);
    }
    return { text: buf.toString('utf8', 0, n), size: n };
  } finally {
    closeSync(fd);
  }
}

/**
 * Every tree and blob reachable from `trees` plus `blobs`. A missing or
 * unparsable tree throws — unless `keepGoing` (what GC must keep): then it
 * counts with size 0 and the walk goes on with every tree that can be read.
 */
export function closure(
  store: Store,
  trees: Iterable<string>,
  blobs: Iterable<[string, number]> = [],
  keepGoing = false,
): Closure {
  const sizes = new Map<string, number>();
  let treeCount = 0;
  const stack = [...trees];
  for (const [id, size] of blobs) sizes.set(id, size);
  while (stack.length) {
    const id = stack.pop()!;
    if (sizes.has(id)) continue;
    let tree: Tree;
    try {
      const { text, size } = readTreeText(store.pool.treePath(id));
      tree = JSON.parse(text) as Tree;
      sizes.set(id, size);
    } catch (e) {
      if (!keepGoing) throw e;
      sizes.set(id, 0);
      continue;
    }
    treeCount++;
    for (const e of tree.e) {
      if (e[1] === 'd') stack.push(e[5]);
      else if (e[1] === 'f' && !sizes.has(e[5])) sizes.set(e[5], e[4]);
    }
  }
  return { sizes, trees: treeCount };
}

export function accountRoots(
  store: Store,
  accountId: number,
  pins: Pin[],
  without: ReadonlySet<number> = new Set(),
): { trees: string[]; blobs: Array<[string, number]> } {
  const rows = store.db.prepare('SELECT id, root FROM snapshots WHERE account_id = ?').all(accountId) as Array<{
    id: number;
    root: string;
  }>;
  const roots = [...new Set(rows.filter((r) => !without.has(r.id)).map((r) => r.root))];
  return { trees: [...roots, ...pins.flatMap((p) => p.trees)], blobs: pins.flatMap((p) => p.blobs) };
}

/** Makes account_blobs of one account equal to the closure of its snapshots and pins. */
export function recomputeAccount(
  store: Store,
  accountId: number,
  pins: Pin[],
  dryRun = false,
  without?: ReadonlySet<number>,
): { closure: Closure; added: number; dropped: string[]; bytes: number } {
  const r = accountRoots(store, accountId, pins, without);
  const c = closure(store, r.trees, r.blobs);
  let bytes = 0;
  for (const s of c.sizes.values()) bytes += s;
  const db = store.db;
  const existing = db.prepare('SELECT id FROM account_blobs WHERE account_id = ?').pluck().all(accountId) as string[];
  const had = new Set(existing);
  const dropped = existing.filter((id) => !c.sizes.has(id));
  const fresh = [...c.sizes].filter(([id]) => !had.has(id));
  if (dryRun) return { closure: c, added: fresh.length, dropped, bytes };
  const del = db.prepare('DELETE FROM account_blobs WHERE account_id = ? AND id = ?');
  const ins = db.prepare('INSERT OR IGNORE INTO account_blobs (account_id, id, size) VALUES (?, ?, ?)');
  const added = fresh.length;
  db.transaction(() => {
    for (const id of dropped) del.run(accountId, id);
    for (const [id, size] of fresh) ins.run(accountId, id, size);
  })();
  return { closure: c, added, dropped, bytes };
}
