/**
 * api-types — the JSON bodies and answers of /api/v1 (api.ts says which
 * endpoint takes and returns which). Times are milliseconds since the epoch
 * unless named otherwise; ids are lowercase hex SHA-256 (protocol/hash.ts).
 */
import type { ErrorCode } from '../platform/errors.js';
import type { TreeEntry } from './tree.js';

/** Every error answer (4xx/5xx). 503 answers also carry Retry-After. */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface PingAnswer {
  ok: true;
  service: string;
  /** The agent this server hands out; installed agents upgrade to it (agent/install/self-upgrade.ts). */
  agent?: AgentOffer;
}
/** An agent bundle offered by the server (GET `path` → the bundle, checked against `sha256`). */
export interface AgentOffer {
  version: string;
  sha256: string;
  /** Absolute path on the server, under /agent/. */
  path: string;
}

export interface RegisterRequest {
  serial: string;
  nickname?: string;
  /** Take over the account of this serial (a replacement laptop)... */
  replaces?: string;
  /** ... proven by that laptop's restore code. */
  restoreCode?: string;
  /** The old name of `restoreCode` (agents installed before the rename). */
  pin?: string;
}
export interface RegisterAnswer {
  serial: string;
  nickname: string;
  token: string;
  created: boolean;
}

export interface LeaseAnswer {
  lease: string;
  /** Seconds without a request after which the server drops the lease. */
  leaseTimeout: number;
  /** The server takes trees before the commit (older servers leave it out). */
  treesAhead?: boolean;
}
export interface HeartbeatAnswer {
  lease: string;
  expiresIn: number;
}

export interface IdsRequest {
  ids: string[];
}
/** POST /backups/:lease/missing (protocol/proof.ts). */
export interface MissingRequest {
  ids: string[];
  /** The agent answers challenges; without it, blobs the account does not own are `missing`. */
  prove?: boolean;
}
export interface MissingAnswer {
  /** Upload these. */
  missing: string[];
  /** The pool has these but the account does not own them: prove (or upload) them. */
  challenge?: Challenge;
}
export interface Challenge {
  /** 32 random bytes, hex; single use, dies with the lease. */
  nonce: string;
  ids: string[];
}
/** POST /backups/:lease/proofs: proof = hex HMAC-SHA256(key = nonce bytes, message = blob bytes). */
export interface ProofsRequest {
  nonce: string;
  proofs: Record<string, string>;
}
export interface ProofsAnswer {
  /** Now owned by the account. */
  proven: string[];
  /** Wrong or no proof: upload these. */
  refused: string[];
}
export interface BatchAnswer {
  stored: number;
  duplicates: number;
  bytes: number;
  rejected: string[];
}
export interface UploadAnswer {
  offset: number;
  complete: boolean;
}

/** Tree texts by id (protocol/tree.ts). */
export type TreeTexts = Record<string, string>;
export interface TreesAheadRequest {
  trees: TreeTexts;
}
export interface TreesAheadAnswer {
  stashed: number;
}

export interface CommitSource {
  source: string;
  root: string;
  trees: TreeTexts;
}
export interface CommitRequest {
  runId?: string;
  sources: CommitSource[];
}
export interface CommitAnswer {
  snapshots: Array<{ name: string; source: string; createdAt: number; files: number; bytes: number }>;
  commitMs?: number;
}

export interface SnapshotView {
  serial: string;
  name: string;
  source: string;
  createdAt: number;
  root: string;
  files: number;
  bytes: number;
  runId: string | null;
}
export interface SnapshotsAnswer {
  serial: string;
  snapshots: SnapshotView[];
}
export interface EntryView {
  uid: string;
  version: string;
  layout: number;
  title: string;
  activity: string;
  mimeType: string;
  timestamp: number | null;
  keep: boolean;
  dataBlob: string | null;
  dataSize: number;
  previewBlob: string | null;
  previewSize: number;
  problems: string[];
}
export interface SnapshotEntriesAnswer {
  snapshot: SnapshotView;
  entries: EntryView[];
}
export interface TreesAnswer {
  trees: TreeTexts;
}

export interface PinView {
  id: string;
  kind: 'snapshot' | 'entry';
  auto: boolean;
  createdAt: number;
  serial: string;
  snapshot: string | null;
  source: string | null;
  uid: string | null;
  version: string | null;
  layout: 0 | 6 | null;
  title: string | null;
  bytes: number;
  /** Layout 6: the entry folder's tree entry. Layout 0: the store entries. */
  dir: TreeEntry | null;
  files: { data?: TreeEntry; meta?: TreeEntry; preview?: TreeEntry } | null;
}
export interface PinsAnswer {
  pins: PinView[];
}
export interface AddPinRequest {
  snapshot?: string;
  serial?: string;
  entry?: string;
  version?: string;
}

export interface WebLinkAnswer {
  /** A one-time sign-in path on the server (/ui/link/…). */
  path: string;
  expiresAt: number;
}
/** POST /api/v1/reports: why a scheduled run did not back up (answer: 204). */
export type ReportOutcome = 'failed' | 'busy' | 'skipped';
export interface ReportRequest {
  outcome: ReportOutcome;
  /** The agent's own sentence; the server keeps REPORT_REASON_KEPT characters of it. */
  reason: string;
  /** When it happened (ms); ignored when in the future or older than REPORT_AGE_MAX_MS. */
  at?: number;
}
export interface RestoreCodeAnswer {
  serial: string;
  restoreCode: string;
}
/** GET /api/v1/pin: the restore code under its old name, for agents installed before the rename. */
export interface RestorePinAnswer {
  serial: string;
  pin: string;
}
