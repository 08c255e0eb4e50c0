/**
 * verify — re-hashes pool blobs and trees and says what damage affects.
 *
 * Every object's name is the SHA-256 of its bytes, so checking needs nothing
 * else. `samplePct` < 100 checks a random sample of whole leaf folders (the daily job checks a
 * few percent; a full run reads the whole pool). For each damaged object the
 * report names the accounts' snapshots and Journal entry versions whose trees
 * reach it, so an administrator knows what a restore would miss. Nothing is
 * changed on disk.
 */
import { listObjects, POOL_DEPTH } from '../store/pool.js';
import { readTrustedTree } from '../../protocol/tree.js';
import type { EntryRow, SnapshotRow } from '../catalog/catalog.js';
import type { Store } from '../store/store.js';
import { hashPath } from '../../platform/file-hash.js';

export interface Damage {
  id: string;
  kind: 'blob' | 'tree';
  problem: string;
  snapshots: string[];
  entries: Array<{ serial: string; uid: string; version: string; title: string }>;
}

export interface VerifyResult {
  samplePct: number;
  blobs: number;
  trees: number;
  bytes: number;
  damaged: Damage[];
  seconds: number;
}

const hashFile = (path: string) => hashPath(path).then((r) => ({ hex: r.hash, bytes: r.size }));

/** Does tree `root` reach object `target`? (memoized per tree) */
function reaches(store: Store, root: string, target: string, memo: Map<string, boolean>): boolean {
  if (root === target) return true;
  const hit = memo.get(root);
  if (hit !== undefined) return hit;
  let found = false;
  try {
    for (const e of readTrustedTree(store.pool.readTree(root)).e) {
      if (e[5] === target || (e[1] === 'd' && reaches(store, e[5], target, memo))) {
        found = true;
        break;
      }
    }
  } catch {
    found = false; // a missing or damaged tree leads nowhere (verify reports it on its own)
  }
  memo.set(root, found);
  return found;
}

export function affected(store: Store, id: string, kind: 'blob' | 'tree', problem: string): Damage {
  const accounts = store.db
    .prepare('SELECT DISTINCT account_id FROM account_blobs WHERE id = ?')
    .pluck()
    .all(id) as number[];
  const memo = new Map<string, boolean>();
  const out: Damage = { id, kind, problem, snapshots: [], entries: [] };
  for (const a of accounts) {
    for (const s of store.db
      .prepare('SELECT * FROM snapshots WHERE account_id = ? ORDER BY created_at')
      .all(a) as SnapshotRow[]) {
      if (reaches(store, s.root, id, memo)) out.snapshots.push(`${s.serial}/${s.name}`);
    }
    for (const e of store.db.prepare('SELECT * FROM entries WHERE account_id = ?').all(a) as EntryRow[]) {
      const hit =
        e.data_blob === id ||
        e.preview_blob === id ||
        e.meta_ref === id ||
        (e.layout === 6 && reaches(store, e.version, id, memo));
      if (hit) {
        const serial =
          (store.db
            .prepare('SELECT serial FROM snapshots WHERE account_id = ? ORDER BY created_at DESC LIMIT 1')
            .pluck()
            .get(a) as string | undefined) ?? '';
        out.entries.push({ serial, uid: e.uid, version: e.version, title: e.title });
      }
    }
  }
  return out;
}

export async function verifyStore(
  store: Store,
  opts: { samplePct?: number; random?: () => number } = {},
): Promise<VerifyResult> {
  const t = Date.now();
  const pct = opts.samplePct ?? 100;
  const rnd = opts.random ?? Math.random;
  const res: VerifyResult = { samplePct: pct, blobs: 0, trees: 0, bytes: 0, damaged: [], seconds: 0 };
  // A sample takes whole leaf folders (trees/ab/, pool/ab/cd/) so the rest is never listed.
  const pick = pct < 100 ? () => rnd() * 100 < pct : undefined;
  const check = async (o: { path: string; id: string }, kind: 'blob' | 'tree') => {
    let problem: string | null = null;
    try {
      const h = await hashFile(o.path);
      res.bytes += h.bytes;
      if (h.hex !== o.id) problem = `content hashes to ${h.hex.slice(0, 12)}…`;
    } catch (e) {
      problem = `unreadable: ${(e as Error).message}`;
    }
    if (kind === 'blob') res.blobs++;
    else res.trees++;
    if (problem) res.damaged.push(affected(store, o.id, kind, problem));
  };
  for (const o of listObjects(store.pool.treesDir, 1, pick)) await check(o, 'tree');
  for (const o of listObjects(store.pool.poolDir, POOL_DEPTH, pick)) await check(o, 'blob');
  res.seconds = (Date.now() - t) / 1000;
  return res;
}
