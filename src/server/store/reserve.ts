/**
 * reserve — space kept back so the cleanup can run on a full disk (issue #16 §3).
 *
 * `<root>/reserve` is a file of zeros (1 % of the filesystem, between 1 and
 * 64 MiB) written when the server starts. When the disk is full the cleanup
 * deletes it first — that is space for its lock, catalog journal and report
 * — then frees what retention allows, and writes the reserve again when the
 * space is there. Writing it is best effort: a disk already full when the
 * server starts simply has no reserve until space returns.
 */
import { closeSync, openSync, statSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { diskUsage } from '../../platform/system.js';
import { isDiskFull } from '../../platform/errors.js';

const MiB = 1024 * 1024;

export const reservePath = (root: string) => join(root, 'reserve');

export function reserveBytes(root: string): number {
  return Math.min(64 * MiB, Math.max(1 * MiB, Math.floor(diskUsage(root).totalBytes / 100 / MiB) * MiB));
}

/** Writes the reserve when it is missing or short; false when the disk has no room for it. */
export function ensureReserve(root: string): boolean {
  const want = reserveBytes(root);
  const path = reservePath(root);
  try {
    if (statSync(path).size >= want) return true;
  } catch {
    /* missing */
  }
  if (diskUsage(root).freeBytes < want * 2) return false;
  const fd = openSync(path, 'w', 0o600);
  try {
    const zeros = Buffer.alloc(MiB);
    for (let n = 0; n < want; n += MiB) writeSync(fd, zeros);
    fsyncSync(fd);
    return true;
  } catch (e) {
    if (!isDiskFull(e)) throw e;
    closeSync(fd);
    unlinkSync(path);
    return false;
  } finally {
    try {
      closeSync(fd);
    } catch {
      /* closed above */
    }
  }
}

/** Deletes the reserve; the bytes it gave back. */
export function releaseReserve(root: string): number {
  try {
    const n = statSync(reservePath(root)).size;
    unlinkSync(reservePath(root));
    return n;
  } catch {
    return 0;
  }
}

/** Is the disk too full for the cleanup to write (less than the reserve free)? */
export function diskIsFull(root: string): boolean {
  return diskUsage(root).freeBytes < reserveBytes(root);
}
