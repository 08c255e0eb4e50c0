/**
 * errors — the one error type of ds-backup, with stable codes.
 *
 * Every failure that reaches a user (an HTTP client or a CLI user) is an
 * AppError whose `code` is one of the stable strings below. The HTTP error
 * handler maps codes to statuses; the CLIs map them to exit codes. Codes are
 * part of the protocol: never rename one, only add.
 */

export const ERROR_STATUS = {
  bad_request: 400,
  invalid_path: 400,
  invalid_manifest: 400,
  unauthorized: 401,
  forbidden: 403,
  device_disabled: 403,
  not_found: 404,
  conflict: 409,
  already_registered: 409,
  /** A state file that guards data (pins.json…) cannot be read: the operation refuses until it is repaired. */
  state_damaged: 409,
  lease_expired: 410,
  too_large: 413,
  hash_mismatch: 422,
  /** A commit whose folders nest deeper than MAX_TREE_DEPTH (protocol/limits.ts), counting reused subtrees. */
  tree_too_deep: 422,
  missing_blobs: 422,
  rate_limited: 429,
  internal: 500,
  /** A stored object does not hash to its name (bit rot, a bad disk): the read fails, `verify` lists it. */
  damaged: 500,
  busy: 503,
  unavailable: 503,
  /** The server's disk (or the catalog's) is full: ENOSPC/EDQUOT/SQLITE_FULL anywhere in a backup. */
  disk_full: 507,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  /** Seconds the client should wait before retrying (503 Retry-After). */
  readonly retryAfter?: number;

  constructor(
    code: ErrorCode,
    message: string,
    extra: { details?: Record<string, unknown>; retryAfter?: number } = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = extra.details;
    this.retryAfter = extra.retryAfter;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Is this a full-disk failure of the filesystem or of SQLite? */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === 'disk_full';
}

/** The one full-disk error: what any ENOSPC becomes before it reaches a client. */
export function diskFull(): AppError {
  return new AppError('disk_full', 'server disk full; the backup was not stored (an admin must free space)', {
    retryAfter: 3600,
  });
}

/** Turns anything thrown into a one-line message fit for a user. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
