/**
 * account-delete — removes every backup of one account (all its laptops):
 * each laptop's folder under users/ is first renamed to a dot-name (which
 * store.serials() and reindex ignore, so a crash cannot bring it back) and
 * then removed; then the catalog rows go in one transaction. Blobs in the
 * pool are left for the garbage collector (cleanup issue), since other
 * accounts may share them.
 */
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../../store/store.js';
import { deleteAccountRows, serialsOfAccount } from '../../catalog/devices.js';

export function accountSerials(store: Store, accountId: number): string[] {
  return serialsOfAccount(store.db, accountId);
}

export function deleteAccount(store: Store, accountId: number): string[] {
  const serials = accountSerials(store, accountId);
  for (const sn of serials) {
    const gone = join(store.usersDir, `.deleted-${sn}-${Date.now()}`);
    try {
      renameSync(store.userDir(sn), gone);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      continue;
    }
    rmSync(gone, { recursive: true, force: true });
  }
  deleteAccountRows(store.db, accountId, serials);
  return serials;
}
