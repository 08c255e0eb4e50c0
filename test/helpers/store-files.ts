/**
 * store-files — where the local object store keeps objects, for tests that
 * damage, age or count files on disk, a quick way to put a blob, test
 * bytes and a hand-made one-folder tree.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { serializeTree, treeId, type TreeEntry } from '../../src/protocol/tree.js';
import { blobKey, treeKey } from '../../src/server/store/object-store.js';
import type { Store } from '../../src/server/store/store.js';

export const blobFile = (store: Store, id: string): string => join(store.root, blobKey(id));
export const treeFile = (store: Store, id: string): string => join(store.root, treeKey(id));

/** Puts bytes (already known to hash to `id`) into the pool, published and durable. */
export async function putBlob(store: Store, id: string, data: Buffer): Promise<void> {
  const staged = await store.pool.stageBlob(id, [data]);
  await store.pool.flush();
  await store.pool.publish([staged]);
}

/** Deterministic pseudo-random bytes (the same every run: chunk cut points stay put). */
export function bytes(n: number, seed: string): Buffer {
  const out = Buffer.allocUnsafe(n);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < n; at += 32) {
    block.copy(out, at, 0, Math.min(32, n - at));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A tree of plain files [name, blob id, size], as a laptop (or an attacker) would write it. */
export function treeOf(files: Array<[string, string, number]>): { id: string; text: string } {
  const entries: TreeEntry[] = files
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([name, id, size]) => [name, 'f', 0o644, 1_700_000_000_000, size, id]);
  const text = serializeTree(entries);
  return { id: treeId(text), text };
}
