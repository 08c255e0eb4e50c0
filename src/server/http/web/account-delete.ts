/**
 * account-delete — removes every backup of one account (all its laptops):
 * each laptop's folder under users/ goes through the object store's
 * deleteFolder (hidden whole first — store.serials() and reindex skip it, so
 * a crash cannot bring it back — then removed); then the catalog rows go in
 * one transaction. Blobs in the pool are left for the garbage collector
 * (cleanup issue), since other accounts may share them.
 */
import { rmSync } from 'node:fs';
import type { Store } from '../../store/store.js';
import { userKey } from '../../store/object-store.js';
import { deleteAccountRows, serialsOfAccount } from '../../catalog/devices.js';

export function accountSerials(store: Store, accountId: number): string[] {
  return serialsOfAccount(store.db, accountId);
}

export async function deleteAccount(store: Store, accountId: number): Promise<string[]> {
  const serials = accountSerials(store, accountId);
  for (const sn of serials) {
    await store.objects.deleteFolder(userKey(sn));
    // Objects in a bucket (--store s3://): the laptop's account files are still on the local disk.
    if (!store.objects.sync) rmSync(store.userDir(sn), { recursive: true, force: true });
  }
  deleteAccountRows(store.db, accountId, serials);
  return serials;
}
