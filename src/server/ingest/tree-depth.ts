/**
 * tree-depth — the commit's folder-depth limit (issue #16 §7).
 *
 * A snapshot's root tree may nest at most MAX_TREE_DEPTH levels (a tree's
 * depth is 1 + its deepest subfolder's). The depth counts subtrees reused
 * from earlier snapshots, so a chain cannot be built deeper commit by commit:
 * a reused subtree's depth comes from tree_stats (recorded when the snapshot
 * that brought it was indexed); one without a known depth (indexed before
 * depths were kept) is walked, bounded: the walk stops as soon as it is
 * deeper than the limit allows, and depths it finds are recorded.
 *
 * Everything is iterative (explicit stacks): a client decides how deep its
 * trees are, not the server's call stack.
 */
import { AppError } from '../../platform/errors.js';
import { MAX_TREE_DEPTH } from '../../protocol/limits.js';
import { entryRef, isDirEntry, type Tree } from '../../protocol/tree.js';
import { cachedTreeDepth, setTreeDepth } from '../catalog/refs.js';
import type { Catalog } from '../catalog/catalog.js';
import type { TreeSource } from '../catalog/indexer.js';

/** Where trees come from: the commit's new ones first, then the pool; depths known for old ones. */
export interface DepthSource {
  tree(id: string): Tree;
  /** A depth recorded earlier, or null. */
  known(id: string): number | null;
  /** Records a depth found by walking (optional). */
  learned?(id: string, depth: number): void;
}

/**
 * The depth of tree `root`, or Infinity as soon as it is certainly deeper
 * than `limit` (the walk goes no further than limit + 1 levels).
 */
export function treeDepth(src: DepthSource, root: string, limit: number): number {
  const depth = new Map<string, number>();
  const knownOrDone = (id: string) => depth.get(id) ?? src.known(id);
  const first = knownOrDone(root);
  if (first !== null) return first;
  const subs = (id: string) => src.tree(id).e.filter(isDirEntry).map(entryRef);
  const stack = [{ id: root, subs: subs(root), i: 0, depth: 1 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.i < top.subs.length) {
      const child = top.subs[top.i++];
      const d = knownOrDone(child);
      if (d !== null) top.depth = Math.max(top.depth, d + 1);
      else if (stack.length >= limit)
        return Infinity; // the child alone makes this path limit + 1 deep
      else stack.push({ id: child, subs: subs(child), i: 0, depth: 1 });
      if (top.depth + stack.length - 1 > limit) return Infinity;
      continue;
    }
    stack.pop();
    depth.set(top.id, top.depth);
    src.learned?.(top.id, top.depth);
    if (stack.length) {
      const parent = stack[stack.length - 1];
      parent.depth = Math.max(parent.depth, top.depth + 1);
      if (parent.depth + stack.length - 1 > limit) return Infinity;
    }
  }
  return depth.get(root)!;
}

/**
 * Refuses (422 tree_too_deep) a commit whose root nests deeper than the
 * limit. `fresh`: the commit's new trees by id (their depths are learned
 * only when the snapshot is indexed); older trees are read from `trees`
 * (Store.withTrees: synchronous reads, prefetched on a remote store).
 */
export function checkCommitDepth(
  db: Catalog,
  trees: Pick<TreeSource, 'tree'>,
  root: string,
  fresh: ReadonlyMap<string, { tree: Tree }>,
  limit = MAX_TREE_DEPTH,
): void {
  const src: DepthSource = {
    tree: (id) => fresh.get(id)?.tree ?? trees.tree(id),
    known: (id) => (fresh.has(id) ? null : cachedTreeDepth(db, id)),
    learned: (id, d) => {
      if (!fresh.has(id)) setTreeDepth(db, id, d);
    },
  };
  const d = treeDepth(src, root, limit);
  if (d > limit)
    throw new AppError(
      'tree_too_deep',
      `folders nest deeper than ${limit} levels (counting folders kept from earlier backups); this server refuses such a backup`,
      { details: { limit } },
    );
}
