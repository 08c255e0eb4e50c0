/**
 * tree-walk — the server's one walk over trees (reindex, ingest, refs).
 *
 * Visits every tree reachable from some roots once, depth first with an
 * explicit stack: no recursion, so a tree as deep as a client cares to make
 * it cannot overflow the call stack. `open(id)` returns the tree to descend
 * into, or null to stop there (not present, already known, not wanted); the
 * walker then pushes the tree's subfolders ('d' entries). `seen` may be the
 * caller's own set (e.g. a map of sizes already counted); an id it has is
 * never opened.
 */
import { entryRef, isDirEntry, type Tree } from '../../protocol/tree.js';

export interface SeenSet {
  has(id: string): boolean;
  add(id: string): unknown;
}

export function walkTrees(
  roots: Iterable<string>,
  open: (id: string) => Tree | null,
  seen: SeenSet = new Set<string>(),
): void {
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const tree = open(id);
    if (!tree) continue;
    for (const e of tree.e) if (isDirEntry(e) && !seen.has(entryRef(e))) stack.push(entryRef(e));
  }
}

/**
 * walkTrees with an asynchronous `open` (trees read from a remote store):
 * the same visits, up to `width` opens in flight at once (so no order
 * between them is promised).
 */
export async function walkTreesAsync(
  roots: Iterable<string>,
  open: (id: string) => Promise<Tree | null>,
  seen: SeenSet = new Set<string>(),
  width = 16,
): Promise<void> {
  const stack = [...roots];
  while (stack.length) {
    const batch = new Set<string>();
    while (stack.length && batch.size < width) {
      const id = stack.pop()!;
      if (seen.has(id) || batch.has(id)) continue;
      seen.add(id);
      batch.add(id);
    }
    const trees = await Promise.all([...batch].map(open));
    for (const tree of trees)
      if (tree) for (const e of tree.e) if (isDirEntry(e) && !seen.has(entryRef(e))) stack.push(entryRef(e));
  }
}
