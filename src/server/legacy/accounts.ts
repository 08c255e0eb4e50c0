/**
 * accounts — the Unix accounts `legacy setup` made for old laptops.
 *
 * `<root>/legacy/accounts.json` maps serial → {user, uid, gid, home}. The
 * Unix user name IS the serial, unchanged (uppercase included): the old
 * client logs in with `ssh -l <SN>`, so any other name would break unchanged
 * laptops. The file is written by setup (root, atomically) and read by the
 * completion watcher to check a flag's owner.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { readJsonState } from '../../platform/fs-errors.js';

export interface LegacyAccount {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

export function accountsFile(root: string): string {
  return join(root, 'legacy', 'accounts.json');
}

export function readAccounts(root: string): Record<string, LegacyAccount> {
  // Absent: none. Damaged: state_damaged, so it is never rewritten from an empty list.
  const v = readJsonState(accountsFile(root), 'legacy accounts file') as Record<string, LegacyAccount> | null;
  return v && typeof v === 'object' ? v : {};
}

export function writeAccounts(root: string, accounts: Record<string, LegacyAccount>): void {
  writeFileAtomic(accountsFile(root), JSON.stringify(accounts, null, 2) + '\n', 0o644);
}
