/**
 * config — the server's settings: embedded defaults, then the config file
 * (JSON; `--config FILE`, else $DS_BACKUP_SERVER_CONFIG, else
 * /etc/ds-backup/server.json when it exists), then command-line options.
 */
import { existsSync, readFileSync } from 'node:fs';
import { AppError } from '../common/errors.js';

export interface ServerConfig {
  root: string;
  host: string;
  port: number;
  maxConcurrent: number;
  leaseTimeoutSec: number;
  loadLimit: number;
  diskLimitPct: number;
  bandwidth: number;
  logLevel: string;
  /** Cleanup: keep every snapshot younger than this many days. */
  keepDays: number;
  /** Cleanup: soft quota, % of the filesystem's blocks or inodes. */
  softQuotaPct: number;
  quotaRounds: number;
  /** Cleanup: absolute per-account cap in bytes (0 = none). */
  accountCapBytes: number;
  autoPinStarred: boolean;
  /** Cleanup: % of the pool re-hashed by the daily run. */
  verifySamplePct: number;
  /** Cleanup: run the daily job inside `serve`. */
  dailyCleanup: boolean;
}

export const DEFAULTS: ServerConfig = {
  root: '/library',
  host: '0.0.0.0',
  port: 8080,
  maxConcurrent: 10,
  leaseTimeoutSec: 120,
  loadLimit: 5,
  diskLimitPct: 90,
  bandwidth: 0,
  logLevel: 'info',
  keepDays: 90,
  softQuotaPct: 70,
  quotaRounds: 10,
  accountCapBytes: 0,
  autoPinStarred: true,
  verifySamplePct: 1,
  dailyCleanup: true,
};

export function configPath(explicit?: string): string | null {
  if (explicit) return explicit;
  if (process.env.DS_BACKUP_SERVER_CONFIG) return process.env.DS_BACKUP_SERVER_CONFIG;
  return existsSync('/etc/ds-backup/server.json') ? '/etc/ds-backup/server.json' : null;
}

export function loadConfig(file: string | null, overrides: Partial<ServerConfig>): ServerConfig {
  let fromFile: Partial<ServerConfig> = {};
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerConfig>;
    } catch (e) {
      throw new AppError('bad_request', `cannot read config file ${file}: ${(e as Error).message}`);
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...DEFAULTS, ...fromFile, ...defined };
}
