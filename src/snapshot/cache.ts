/**
 * cache — the agent's per-source memory between runs.
 *
 * dirs: folder path ('' = the source root) → [tree id, tree text, inodes]
 * as the last scan saw them (the tree's own canonical text, common/tree.ts;
 * inodes run alongside its entries, 0 for folders and links). A file whose
 * size, mtime and inode match its entry is not read again, and a folder whose
 * entries all match keeps its tree id and text without being hashed again.
 * Kept as text, not parsed entries: a scan parses one folder at a time, and
 * the texts are the very strings the commit sends (a first backup holds one
 * copy of its trees, not two).
 * committed: folder path → tree id in the last snapshot the server accepted
 * (tells the scan which folders changed), or 'dirs' when that is exactly
 * `dirs` (the usual case after a successful backup: saves a second map).
 * server: the URL the committed ids belong to.
 *
 * Saved atomically (not flushed); a missing, older or unreadable cache only
 * costs a full re-hash.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomicPieces } from '../platform/durable.js';

export type CachedDir = [id: string, tree: string, inodes: number[]];

export interface HashCache {
  v: 3;
  dirs: Record<string, CachedDir>;
  committed: Record<string, string> | 'dirs';
  root: string | null;
  server: string | null;
}

export function emptyCache(): HashCache {
  return { v: 3, dirs: {}, committed: {}, root: null, server: null };
}

export function loadCache(path: string): HashCache {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as HashCache;
    if (c && c.v === 3 && c.dirs && typeof c.dirs === 'object' && c.committed) return c;
  } catch {
    /* absent, unreadable or damaged: an empty cache only means every file is hashed again */
  }
  return emptyCache();
}

/** The committed folder → tree id map (materialised once when stored as 'dirs'). */
export function committedIds(c: HashCache): Record<string, string> {
  if (c.committed === 'dirs') {
    const m: Record<string, string> = {};
    for (const rel in c.dirs) m[rel] = c.dirs[rel][0];
    c.committed = m;
  }
  return c.committed;
}

/** The cache as JSON, a folder at a time (at 4× the reference Journal it is ~16 MB). */
function* cacheJson(cache: HashCache): Generator<string> {
  yield `{"v":3,"root":${JSON.stringify(cache.root)},"server":${JSON.stringify(cache.server)},"committed":${JSON.stringify(cache.committed)},"dirs":{`;
  let first = true;
  for (const rel in cache.dirs) {
    yield `${first ? '' : ','}${JSON.stringify(rel)}:${JSON.stringify(cache.dirs[rel])}`;
    first = false;
  }
  yield '}}';
}

/**
 * Not flushed to disk: after a crash the cache is the old one, the new one,
 * or unreadable (then empty) — each only costs work, never a wrong backup
 * (tree ids are checked against their text; hashes are keyed on inode,
 * size and mtime).
 */
export function saveCache(path: string, cache: HashCache): void {
  writeFileAtomicPieces(path, cacheJson(cache), 0o600, { flush: false });
}
