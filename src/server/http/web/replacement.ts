/**
 * replacement — a new laptop taking over an old one's account, so its
 * student sees every earlier backup.
 *
 *  - replacementAccount(): at registration (`ds-backup register --replaces
 *    OLD [--old-restore-code CODE]`): allowed with the old laptop's restore code
 *    (rate-limited like web sign-in) or with an admin approval given on the
 *    old laptop's page; answers the old account key.
 *  - attachReplacement(): from the admin page: a registered laptop with no
 *    backups of its own moves into the old account at once; a serial not
 *    registered yet gets an approval for its registration.
 */
import { AppError } from '../../../platform/errors.js';
import { canonicalSerial } from '../../../protocol/names.js';
import type { ServerContext } from '../context.js';
import { rateLimited } from '../../accounts/limits.js';
import { snapshotCount } from '../../catalog/snapshots.js';

export function replacementAccount(
  ctx: ServerContext,
  serial: string,
  replaces: string,
  restoreCode: string,
  ip: string,
): string {
  const { registry, webAuth } = ctx.store;
  const oldSerial = canonicalSerial(replaces);
  if (!oldSerial || oldSerial === serial)
    throw new AppError('bad_request', `--replaces ${replaces} is not another laptop's serial number`);
  const account = registry.accountOf(oldSerial);
  if (!account || !registry.bySerial(oldSerial))
    throw new AppError('not_found', `laptop ${oldSerial} is not registered on this server`);
  if (registry.bySerial(serial))
    throw new AppError(
      'already_registered',
      `serial ${serial} is already registered; ask the administrator to attach it to ${oldSerial}`,
    );
  if (ctx.store.replacements.take(serial, oldSerial)) return account;
  const r = webAuth.limiter.attempt(ip, oldSerial, () => ctx.store.restoreCodes.check(oldSerial, restoreCode));
  if (r.result === 'limited') throw rateLimited(r.verdict, 'wrong restore codes');
  if (r.result === 'wrong') {
    throw new AppError(
      'forbidden',
      `wrong restore code for ${oldSerial}; give --old-restore-code (ds-backup status on the old laptop shows it) or ask the administrator to approve the replacement`,
    );
  }
  return account;
}

export type AttachResult = { attached: true } | { approved: true };

export function attachReplacement(ctx: ServerContext, oldSerial: string, typed: string): AttachResult {
  const { registry, db } = ctx.store;
  const newSerial = canonicalSerial(typed);
  if (!newSerial || newSerial === oldSerial)
    throw new AppError('bad_request', `${typed} is not another laptop's serial number`);
  const account = registry.accountOf(oldSerial);
  if (!account) throw new AppError('not_found', `laptop ${oldSerial} is not registered`);
  const dev = registry.bySerial(newSerial);
  if (!dev) {
    ctx.store.replacements.approve(newSerial, oldSerial);
    return { approved: true };
  }
  const own = snapshotCount(db, dev.account_id);
  const oldDev = registry.bySerial(oldSerial)!;
  if (dev.account_id !== oldDev.account_id && own > 0) {
    throw new AppError(
      'conflict',
      `${newSerial} already has backups of its own account; it cannot join ${oldSerial}'s account`,
    );
  }
  registry.update(newSerial, { account });
  return { attached: true };
}
