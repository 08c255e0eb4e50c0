/**
 * verify — re-hashes pool blobs and trees and says what damage affects.
 *
 * Every object's name is the SHA-256 of its bytes, so checking needs nothing
 * else. `samplePct` < 100 checks a random sample of whole leaf folders (the daily job checks a
 * few percent; a full run reads the whole pool). For each damaged object the
 * report names the accounts' snapshots and Journal entry versions whose trees
 * reach it, so an administrator knows what a restore would miss. Nothing is
 * changed on disk. Objects a read found damaged (store/damage.ts:
 * run/damaged/) are always checked, sampled or not; their flags are cleared
 * once they hash right again or are gone.
 */
import { blobKey, idOfKey, treeKey } from '../store/object-store.js';
import { unverified } from '../store/verified-reads.js';
import { blobsOf, entryRef, isDirEntry, readTrustedTree } from '../../protocol/tree.js';
import { CHUNKS_REF } from '../store/pool.js';
import { accountSnapshots, latestSerial } from '../catalog/snapshots.js';
import { accountEntries } from '../catalog/entries.js';
import { referencingAccounts } from '../catalog/refs.js';
import type { Store } from '../store/store.js';
import { hashStream } from '../../platform/file-hash.js';

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

// Straight from the store: verify hashes and reports the bytes itself.
const hashObject = (store: Store, key: string) =>
  hashStream(unverified(store.objects).get(key)).then((r) => ({ hex: r.hash, bytes: r.size }));

/**
 * Does tree `root` reach object `target`? (memoized per tree; iterative,
 * post-order with an explicit stack, as a client decides the depth)
 */
async function reaches(store: Store, root: string, target: string, memo: Map<string, boolean>): Promise<boolean> {
  if (root === target) return true;
  const frame = async (id: string) => {
    const subs: string[] = [];
    let found = false;
    try {
      for (const e of readTrustedTree(await store.pool.readTree(id)).e) {
        if (entryRef(e) === target || blobsOf(e).some(([b]) => b === target)) {
          found = true;
          break;
        }
        if (isDirEntry(e)) subs.push(entryRef(e));
      }
    } catch {
      /* a missing or damaged tree leads nowhere (verify reports it on its own) */
    }
    return { id, subs, i: 0, found };
  };
  const hit = memo.get(root);
  if (hit !== undefined) return hit;
  const stack = [await frame(root)];
  const onPath = new Set([root]);
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (!top.found && top.i < top.subs.length) {
      const child = top.subs[top.i++];
      const known = memo.get(child);
      if (known !== undefined) top.found = known;
      else if (!onPath.has(child)) {
        onPath.add(child);
        stack.push(await frame(child));
      }
      continue;
    }
    stack.pop();
    onPath.delete(top.id);
    memo.set(top.id, top.found);
    if (top.found && stack.length) stack[stack.length - 1].found = true;
  }
  return memo.get(root)!;
}

export async function affected(store: Store, id: string, kind: 'blob' | 'tree', problem: string): Promise<Damage> {
  const accounts = referencingAccounts(store.db, id);
  const memo = new Map<string, boolean>();
  const out: Damage = { id, kind, problem, snapshots: [], entries: [] };
  for (const a of accounts) {
    for (const s of accountSnapshots(store.db, a)) {
      if (await reaches(store, s.root, id, memo)) out.snapshots.push(`${s.serial}/${s.name}`);
    }
    for (const e of accountEntries(store.db, a)) {
      const hit =
        e.data_blob === id ||
        (e.data_blob?.startsWith(CHUNKS_REF) && e.data_blob.includes(id)) ||
        e.preview_blob === id ||
        e.meta_ref === id ||
        (e.layout === 6 && (await reaches(store, e.version, id, memo)));
      if (hit) {
        const serial = latestSerial(store.db, a);
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
  // A sample takes whole leaf folders (trees/ab/, pool/ab/) so the rest is never listed.
  const pick = pct < 100 ? () => rnd() * 100 < pct : () => true;
  const checked = new Set<string>();
  const check = async (o: { key: string; id: string }, kind: 'blob' | 'tree', note = '') => {
    checked.add(o.id);
    let problem: string | null = null;
    try {
      const h = await hashObject(store, o.key);
      res.bytes += h.bytes;
      if (h.hex !== o.id) problem = `content hashes to ${h.hex.slice(0, 12)}…`;
    } catch (e) {
      problem = `unreadable: ${(e as Error).message}`;
    }
    if (kind === 'blob') res.blobs++;
    else res.trees++;
    if (problem) res.damaged.push(await affected(store, o.id, kind, problem + note));
    else store.damage.forget(o.id); // whole (again): a read's flag is cleared
  };
  for (const [top, kind] of [
    ['trees', 'tree'],
    ['pool', 'blob'],
  ] as const) {
    for (let i = 0; i < 256; i++) {
      if (!pick()) continue;
      for await (const { key } of store.objects.list(`${top}/${i.toString(16).padStart(2, '0')}/`)) {
        const id = idOfKey(key);
        if (id) await check({ key, id }, kind);
      }
    }
  }
  // What reads found damaged is checked again even when sampling; a flag whose object is gone is forgotten.
  for (const f of store.damage.flags()) {
    if (checked.has(f.id)) continue;
    const key = f.kind === 'tree' ? treeKey(f.id) : blobKey(f.id);
    if (!(await store.objects.stat(key))) store.damage.forget(f.id);
    else await check({ key, id: f.id }, f.kind, ` (a read met it ${new Date(f.at).toISOString()})`);
  }
  res.seconds = (Date.now() - t) / 1000;
  return res;
}
