/**
 * system — what the machine says about itself: 1-minute load average and
 * how full the store's filesystem is (the larger of blocks and inodes used).
 */
import { statfsSync } from 'node:fs';
import { loadavg } from 'node:os';

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

export function load1(): number {
  return loadavg()[0];
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
