/**
 * config — the server's settings: embedded defaults, then the config file
 * (JSON; `--config FILE`, else $DS_BACKUP_SERVER_CONFIG, else
 * /etc/ds-backup/server.json when it exists), then command-line options.
 */
import { existsSync, readFileSync } from 'node:fs';
import { AppError } from '../platform/errors.js';
import { BODY_GRACE_SEC } from '../protocol/limits.js';
import { DEFAULT_DELETE_GRACE_DAYS, DEFAULT_REPLICA_BANDWIDTH, DEFAULT_REPLICA_WINDOW } from './replica/policy.js';

export interface ServerConfig {
  root: string;
  host: string;
  port: number;
  maxConcurrent: number;
  leaseTimeoutSec: number;
  /** Per core: backups (and the daily cleanup) wait while the 1-minute load ÷ cores is above it. */
  loadLimit: number;
  diskLimitPct: number;
  bandwidth: number;
  logLevel: string;
  /** Dashboard: a laptop not backed up for this many days is late / stale. */
  lateDays: number;
  staleDays: number;
  /** Web pages: the school's time zone for dates (IANA name; '' = the machine's). */
  timeZone: string;
  /** Host name laptops reach this server by (legacy `backupurl`); '' = the request's Host. */
  publicHost: string;
  /** Legacy: XMPP server told to Sugar at registration ('' = leave Sugar's setting alone). */
  jabberServer: string;
  /** Legacy: where old clients drop their completion flag. */
  completionDir: string;
  /** Legacy: seconds a granted /backup/1/available slot is held (old clients never heartbeat). */
  legacyLeaseSec: number;
  /** Legacy: seconds a granted slot waits for the laptop's rsync session to start before it is given back. */
  legacyStartSec: number;
  /** Legacy: second listener for Sugar's XML-RPC registration (0 = off; production: 8080). */
  legacyRegistrationPort: number;
  /** Legacy: run `legacy setup` for a laptop right after its XML-RPC registration (server running as root). */
  legacyAutoSetup: boolean;
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
  /** Cleanup: resumable uploads (incoming/*.part) untouched this many days and held by no live lease are removed. */
  partExpiryDays: number;
  /** Cleanup: run the daily job inside `serve`. */
  dailyCleanup: boolean;
  /** Where pool, trees and snapshot records live: s3://bucket/prefix ('' = under root); store/s3-store.ts. */
  store: string;
  /** Off-site copy: s3://bucket/prefix ('' = none); see src/server/replica/. */
  replica: string;
  /** Off-site copy: the 64-hex-digit key ('' = $DSB_REPLICA_KEY or <root>/replica-key). */
  replicaKey: string;
  /** Off-site copy: upload cap, e.g. "2MB/s" ("0" = none); replica/policy.ts. */
  replicaBandwidth: string;
  /** Off-site copy: when replicate may run, local time, e.g. "22:00-06:00" ("always" = any time). */
  replicaWindow: string;
  /** Off-site copy: days a record removed locally is kept off-site before it is deleted there. */
  replicaDeleteGraceDays: number;
  /** S3 endpoint/region/credentials (store and off-site copy) when the AWS_* variables are not set. */
  s3: { endpoint?: string; region?: string; accessKeyId?: string; secretAccessKey?: string };
  /** Seconds a request body may take beyond its length at 32 KiB/s before the connection is cut (http/guard.ts). */
  bodyGraceSec: number;
  /** Native registration of a new laptop needs this key (X-Enrollment-Key) when set ('' = open, as in 2008). */
  enrollmentKey: string;
  /** The agent bundle handed out at /agent/ ('' = dist/ds-backup.mjs of this package). */
  agentBundle: string;
  /** WebDAV (/dav/): accept Basic sign-in over plain HTTP (a LAN without TLS). */
  davAllowHttp: boolean;
  /** GET /metrics: a Bearer token accepted besides admin tokens ('' = admin tokens only). */
  metricsToken: string;
  /**
   * Behind a reverse proxy: take the client's address from X-Forwarded-For (Fastify's trustProxy:
   * true, or the proxy's address/CIDR list). Off by default: the header is then ignored, since a
   * client could otherwise pick its own address and escape the per-address sign-in limits.
   */
  trustProxy: boolean | string;
}

export const DEFAULTS: ServerConfig = {
  root: '/library',
  host: '0.0.0.0',
  port: 8080,
  maxConcurrent: 10,
  leaseTimeoutSec: 120,
  loadLimit: 2,
  diskLimitPct: 90,
  bandwidth: 0,
  logLevel: 'info',
  lateDays: 3,
  staleDays: 7,
  timeZone: '',
  publicHost: '',
  jabberServer: '',
  completionDir: '/var/lib/ds-backup/completion',
  legacyLeaseSec: 1800,
  legacyStartSec: 120,
  legacyRegistrationPort: 0,
  legacyAutoSetup: false,
  keepDays: 90,
  softQuotaPct: 70,
  quotaRounds: 10,
  accountCapBytes: 0,
  autoPinStarred: true,
  verifySamplePct: 1,
  partExpiryDays: 7,
  dailyCleanup: true,
  store: '',
  replica: '',
  replicaKey: '',
  replicaBandwidth: DEFAULT_REPLICA_BANDWIDTH,
  replicaWindow: DEFAULT_REPLICA_WINDOW,
  replicaDeleteGraceDays: DEFAULT_DELETE_GRACE_DAYS,
  s3: {},
  bodyGraceSec: BODY_GRACE_SEC,
  enrollmentKey: '',
  agentBundle: '',
  davAllowHttp: false,
  metricsToken: '',
  trustProxy: false,
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
