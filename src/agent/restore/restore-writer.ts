/**
 * restore-writer — turns a stream of blob frames into restored files.
 *
 * BlobWriter is the FrameSink of a restore: for each blob it hashes the
 * pieces as they arrive (network chunks, never copied) and writes them to
 * every file that holds those bytes. Contracts:
 *
 * - Integrity: a file gets its final name AND its backed-up mtime only after
 *   its bytes hashed to the blob id. A small blob (≤ SPOOL) is held until
 *   verified and only then written; a large one is written as it arrives and
 *   removed if the hash does not match. A re-run treats a file whose size or
 *   mtime differs as not restored, so nothing half-written is ever kept.
 * - One file, one open: open → write(v) → fchmod (only if the umask changed
 *   the mode) → futimes → close. A file whose name is free (`direct`) is
 *   created in place (O_EXCL); one that replaces an existing file is written
 *   to a temp name and renamed over it, so a reader sees old or new bytes.
 * - Files sharing a blob: the first is written, the others copied from it.
 * - No fsync: a restore promises what `cp` promises (the page cache); the
 *   bytes reach the disk with the kernel's writeback.
 */
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  futimesSync,
  lstatSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { dirname, basename, join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import type { FrameSink } from '../../protocol/frame-parser.js';
import {
  entryKind,
  entryMode,
  entryMtime,
  entryName,
  entryRef,
  entrySize,
  type TreeEntry,
} from '../../protocol/tree.js';
import { unlessCode, unlessMissing } from '../../platform/fs-errors.js';

/**
 * A file to restore: its folder and its tree entry, nothing copied (a
 * 30,000-file plan costs ~1 MB, not the ~35 MB that objects with their own
 * path strings and decoded inline bytes cost).
 */
export class PlannedFile {
  /** The name is free and may be created in place (no temp file, no rename). */
  direct = false;

  constructor(
    readonly dir: string,
    readonly e: TreeEntry,
  ) {}

  get path(): string {
    return join(this.dir, entryName(this.e));
  }

  get id(): string {
    return entryRef(this.e);
  }

  get size(): number {
    return entrySize(this.e);
  }

  get mode(): number {
    return entryMode(this.e);
  }

  get mtime(): number {
    return entryMtime(this.e);
  }

  /** The sha256 of the whole file (its blob id, or a chunked file's whole-file hash). */
  get contentHash(): string {
    const ref = entryRef(this.e);
    return entryKind(this.e) === 'c' ? ref.slice(0, ref.indexOf(',')) : ref;
  }

  /** Bytes of a file kept inline in its tree (nothing to fetch). */
  get inline(): Buffer | undefined {
    return entryKind(this.e) === 'i' ? Buffer.from(entryRef(this.e), 'base64') : undefined;
  }
}

export interface WriteStats {
  written: number;
  bytes: number;
}

/** Blobs up to this size are held (verified) before their file is opened; larger ones stream to disk. */
const SPOOL = 1024 * 1024;

const umask = (() => {
  const u = process.umask(0o022);
  process.umask(u);
  return u;
})();

let tmpCount = 0;
const tmpTag = `${process.pid.toString(36)}-${Date.now().toString(36)}`;

function tmpFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${tmpTag}-${++tmpCount}.tmp`);
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch (e) {
    unlessMissing(e);
    return null;
  }
}

/** An open file being restored. */
class Target {
  readonly fd: number;
  readonly path: string;
  readonly tmp: string | null;

  constructor(readonly f: PlannedFile) {
    this.path = f.path;
    this.tmp = f.direct ? null : tmpFor(this.path);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const mode = f.mode;
    this.fd = openSync(this.tmp ?? this.path, flags, mode & 0o777);
    if (mode & (umask | ~0o777)) fchmodSync(this.fd, mode);
  }

  write(pieces: Buffer[]): void {
    if (pieces.length === 1) return writeFully(this.fd, pieces[0]);
    const n = writevSync(this.fd, pieces);
    const total = pieces.reduce((a, p) => a + p.length, 0);
    if (n < total) writeFully(this.fd, Buffer.concat(pieces).subarray(n));
  }

  /** Stamps the mtime, closes, and moves a temp file over whatever held the name. */
  finish(): void {
    const t = this.f.mtime / 1000;
    futimesSync(this.fd, t, t);
    closeSync(this.fd);
    if (this.tmp) replaceWith(this.tmp, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch (e) {
      unlessCode(e, 'EBADF'); // already closed
    }
    try {
      unlinkSync(this.tmp ?? this.path);
    } catch (e) {
      unlessMissing(e);
    }
  }
}

function writeFully(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off);
}

function replaceWith(tmp: string, path: string): void {
  if (lstatOrNull(path)?.isDirectory()) rmSync(path, { recursive: true, force: true });
  renameSync(tmp, path);
}

/** Writes a whole file (inline bytes, or a verified small blob). */
export function writeWhole(f: PlannedFile, pieces: Buffer[]): void {
  const t = new Target(f);
  try {
    t.write(pieces);
  } catch (e) {
    t.abort();
    throw e;
  }
  t.finish();
}

/** Restores `f` as a copy of `src` (a file just restored with the same bytes). */
function writeCopy(src: string, f: PlannedFile): void {
  const path = f.path;
  const tmp = f.direct ? null : tmpFor(path);
  const to = tmp ?? path;
  copyFileSync(src, to, constants.COPYFILE_EXCL);
  chmodSync(to, f.mode);
  utimesSync(to, f.mtime / 1000, f.mtime / 1000);
  if (tmp) replaceWith(tmp, path);
}

export class BlobWriter implements FrameSink {
  private files: PlannedFile[] = [];
  private id = '';
  private size = 0;
  private hash: Hash | null = null;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private target: Target | null = null;

  constructor(
    private byId: Map<string, PlannedFile[]>,
    private stats: WriteStats,
    private progress: (n: number) => void,
  ) {}

  start(id: string, flags: number, length: number): void {
    const files = this.byId.get(id);
    if (!files) throw new AppError('hash_mismatch', `server sent a blob that was not asked for (${id})`);
    if (flags !== 0) throw new AppError('bad_request', `server sent blob ${id} with unknown flags ${flags}`);
    if (length !== files[0].size)
      throw new AppError(
        'hash_mismatch',
        `server sent ${length} bytes for ${files[0].path}, expected ${files[0].size}`,
      );
    this.byId.delete(id);
    this.files = files;
    this.id = id;
    this.size = length;
    this.hash = createHash('sha256');
    if (length > SPOOL) this.target = new Target(files[0]);
  }

  data(piece: Buffer): void {
    this.hash!.update(piece);
    this.held.push(piece);
    this.heldBytes += piece.length;
    if (this.target && this.heldBytes >= SPOOL) this.flushHeld();
  }

  private flushHeld(): void {
    if (this.held.length) this.target!.write(this.held);
    this.held = [];
    this.heldBytes = 0;
  }

  end(): void {
    const [first, ...copies] = this.files;
    if (this.target) this.flushHeld();
    if (this.hash!.digest('hex') !== this.id) {
      this.abort();
      throw new AppError('hash_mismatch', `server sent damaged bytes for ${first.path}`);
    }
    if (this.target) this.target.finish();
    else writeWhole(first, this.held);
    const firstPath = copies.length ? first.path : '';
    this.target = null;
    this.held = [];
    this.heldBytes = 0;
    this.hash = null;
    for (const f of copies) writeCopy(firstPath, f);
    this.stats.written += this.files.length;
    this.stats.bytes += this.size * this.files.length;
    this.progress(this.size * this.files.length);
  }

  /** Removes a half-written file (a failed stream). */
  abort(): void {
    this.target?.abort();
    this.target = null;
    this.held = [];
  }

  /** Whether blob `id` is still awaited (asked for, not yet received). */
  awaits(id: string): boolean {
    return this.byId.has(id);
  }
}
