/**
 * cache — the agent's per-source memory between runs.
 *
 * files: path → [size, mtimeMs, inode, ref] (ref: the sha256, or for files of
 * at most INLINE_MAX bytes their base64 content; a file whose three keys are
 * unchanged is not read again); committed: folder path → tree id in the last
 * snapshot the server accepted (tells the scan which folders changed);
 * server: the server URL the committed ids belong to. Saved atomically; a
 * missing or unreadable cache only costs a full re-hash.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/durable.js';

export interface HashCache {
  v: 2;
  files: Record<string, [number, number, number, string]>;
  committed: Record<string, string>;
  root: string | null;
  server: string | null;
}

export function emptyCache(): HashCache {
  return { v: 2, files: {}, committed: {}, root: null, server: null };
}

export function loadCache(path: string): HashCache {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as HashCache;
    if (c && c.v === 2 && c.files && c.committed) return c;
  } catch {
    /* no cache yet */
  }
  return emptyCache();
}

export function saveCache(path: string, cache: HashCache): void {
  writeFileAtomic(path, JSON.stringify(cache), 0o600);
}
