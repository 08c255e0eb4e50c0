/**
 * system — what the machine says about itself: 1-minute load average and
 * how full the store's filesystem is (the larger of blocks and inodes used;
 * the cleanup's figures) — the one place that calls statfs.
 */
import { statfsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';

export interface DiskUsage {
  usedPct: number;
  blocksPct: number;
  inodesPct: number;
  totalBytes: number;
  freeBytes: number;
}

export function diskUsage(path: string): DiskUsage {
  const s = statfsSync(path);
  const blocksPct = s.blocks > 0 ? (100 * (s.blocks - s.bfree)) / (s.blocks - s.bfree + s.bavail) : 0;
  const inodesPct = s.files > 0 ? (100 * (s.files - s.ffree)) / s.files : 0;
  return {
    usedPct: Math.max(blocksPct, inodesPct),
    blocksPct,
    inodesPct,
    totalBytes: s.blocks * s.bsize,
    freeBytes: s.bavail * s.bsize,
  };
}

/** Blocks (as bytes a user may fill) and inodes of the filesystem holding `path`: the cleanup's soft quota. */
export function diskFigures(path: string): {
  totalBytes: number;
  usedBytes: number;
  totalInodes: number;
  usedInodes: number;
} {
  const s = statfsSync(path);
  return {
    totalBytes: (s.blocks - s.bfree + s.bavail) * s.bsize,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    totalInodes: s.files,
    usedInodes: s.files - s.ffree,
  };
}

export function load1(): number {
  return loadavg()[0];
}

/** Cores the load average is shared by. */
export function cores(): number {
  return availableParallelism();
}

/** Is a process with this pid alive (ours or not)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
