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

export function accountSerials(store: Store, accountId: number): string[] {
  return (
    store.db.prepare('SELECT serial FROM devices WHERE account_id = ? ORDER BY serial').all(accountId) as Array<{
      serial: string;
    }>
  ).map((r) => r.serial);
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
  const db = store.db;
  db.transaction(() => {
    db.prepare('DELETE FROM entries WHERE account_id = ?').run(accountId);
    db.prepare('DELETE FROM snapshots WHERE account_id = ?').run(accountId);
    db.prepare('DELETE FROM account_blobs WHERE account_id = ?').run(accountId);
    db.prepare('DELETE FROM devices WHERE account_id = ?').run(accountId);
    db.prepare('DELETE FROM accounts WHERE id = ?').run(accountId);
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pins'").get())
      db.prepare('DELETE FROM pins WHERE account_id = ?').run(accountId);
    for (const sn of serials) store.webAuth.forgetDevice(sn);
  })();
  return serials;
}
