/**
 * accounts — the Unix accounts `legacy setup` made for old laptops.
 *
 * `<root>/legacy/accounts.json` maps serial → {user, uid, gid, home}. The
 * Unix user name IS the serial, unchanged (uppercase included): the old
 * client logs in with `ssh -l <SN>`, so any other name would break unchanged
 * laptops. The file is written by setup (root, atomically) and read by the
 * completion watcher to check a flag's owner.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';

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
  try {
    const v = JSON.parse(readFileSync(accountsFile(root), 'utf8')) as Record<string, LegacyAccount>;
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

export function writeAccounts(root: string, accounts: Record<string, LegacyAccount>): void {
  writeFileAtomic(accountsFile(root), JSON.stringify(accounts, null, 2) + '\n', 0o644);
}
