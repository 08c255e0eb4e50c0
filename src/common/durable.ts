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

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = tmpName(path);
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
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
