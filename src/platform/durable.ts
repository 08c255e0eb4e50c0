/**
 * durable — atomic, flushed writes.
 *
 * writeFileAtomic: tmp in the same folder → fsync → rename → fsync folder.
 * syncFilesystem: one syncfs(2) for the whole filesystem holding a path
 * (coreutils `sync -f`), used to flush thousands of freshly written blobs in
 * one go instead of one fsync each (DESIGN.md "Principles").
 * replaceSymlink: points a symlink at a new target atomically.
 */
import { closeSync, fsyncSync, openSync, renameSync, symlinkSync, unlinkSync, writeSync, constants } from 'node:fs';
import { execFile } from 'node:child_process';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gather } from './chunks.js';

export function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644, opts: AtomicOptions = {}): void {
  writeFileAtomicPieces(path, [data], mode, opts);
}

export interface AtomicOptions {
  /**
   * false: replace atomically but do not wait for the disk (no fsync of the
   * file or its folder). Only for files whose loss or emptiness after a crash
   * is harmless: readers must treat an unreadable file as absent (the agent's
   * cache and run state).
   */
  flush?: boolean;
}

/**
 * writeFileAtomic for content made piece by piece (a large JSON document
 * written without ever holding it whole; chunks.ts gathers the pieces).
 */
export function writeFileAtomicPieces(
  path: string,
  pieces: Iterable<string | Buffer>,
  mode = 0o644,
  opts: AtomicOptions = {},
): void {
  const flush = opts.flush !== false;
  const tmp = tmpName(path);
  const fd = openSync(tmp, 'w', mode);
  try {
    for (const buf of gather(pieces)) {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
    }
    if (flush) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  if (flush) fsyncDir(dirname(path));
}

export function replaceSymlink(target: string, linkPath: string): void {
  const tmp = tmpName(linkPath);
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, linkPath);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  fsyncDir(dirname(linkPath));
}

/** Flushes every dirty page of the filesystem holding `path` (syncfs). */
export function syncFilesystem(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', path], (err) => (err ? reject(err) : resolve()));
  });
}
