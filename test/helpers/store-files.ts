/**
 * store-files — where the local object store keeps objects, for tests that
 * damage, age or count files on disk, and a quick way to put a blob.
 */
import { join } from 'node:path';
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
