/**
 * key — where the replica key comes from: $DSB_REPLICA_KEY, else the config
 * key `replicaKey`, else <root>/replica-key (mode 0600), made by the first
 * `replicate` when none of them exists. A rebuild has no old root, so it
 * needs the key from the environment or the config (the recovery sheet).
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { AppError } from '../../platform/errors.js';
import { parseKey } from './crypto.js';

export const KEY_FILE = 'replica-key';

export interface KeySource {
  key: Buffer;
  from: string;
}

export function findKey(root: string | null, configKey: string | undefined): KeySource | null {
  if (process.env.DSB_REPLICA_KEY)
    return { key: parseKey(process.env.DSB_REPLICA_KEY, 'DSB_REPLICA_KEY'), from: 'DSB_REPLICA_KEY' };
  if (configKey) return { key: parseKey(configKey, 'config replicaKey'), from: 'config replicaKey' };
  if (root && existsSync(join(root, KEY_FILE))) {
    const file = join(root, KEY_FILE);
    return { key: parseKey(readFileSync(file, 'utf8'), file), from: file };
  }
  return null;
}

/** The key, made and kept in the root (0600) when there is none yet. */
export function keyOrNew(root: string, configKey: string | undefined): KeySource & { created: boolean } {
  const found = findKey(root, configKey);
  if (found) return { ...found, created: false };
  const key = randomBytes(32);
  const file = join(root, KEY_FILE);
  writeFileAtomic(file, key.toString('hex') + '\n', 0o600);
  return { key, from: file, created: true };
}

export function needKey(root: string | null, configKey: string | undefined): KeySource {
  const found = findKey(root, configKey);
  if (!found)
    throw new AppError(
      'bad_request',
      'no replica key: set DSB_REPLICA_KEY (64 hex digits, from the recovery sheet) or config replicaKey',
    );
  return found;
}

/** The key as a sheet to print and keep away from the server. */
export function recoverySheet(k: KeySource, replica: string): string {
  const hex = k.key.toString('hex');
  const groups = hex.match(/.{8}/g)!.join(' ');
  return [
    'ds-backup off-site copy — RECOVERY SHEET',
    '',
    `replica:  ${replica || '(set --replica or config replica)'}`,
    `key:      ${hex}`,
    `grouped:  ${groups}`,
    `(from ${k.from})`,
    '',
    'Without this key the off-site copy cannot be read by anyone, including you.',
    'Keep this sheet (and a second copy) away from the server: in the district office, a safe.',
    'Rebuild: DSB_REPLICA_KEY=<key> AWS_... ds-backup-server rebuild --root NEWDIR --replica <replica>',
    '',
  ].join('\n');
}
