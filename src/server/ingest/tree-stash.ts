/**
 * tree-stash — trees a laptop sends ahead of its commit, kept per lease.
 *
 * While a backup runs, the agent sends each changed folder's tree as soon as
 * the folder is scanned (POST /api/v1/backups/:lease/trees). The server
 * checks it then (its hash, and parseTree: names, order, canonical form) and
 * writes its temp file while blobs are still arriving, so the commit only
 * has to check the closure and publish: a first backup's ~4,500 tree files
 * are no longer created inside the commit.
 *
 * A stashed tree is checked but not published: nothing can name it until a
 * commit under the same lease (the same laptop) does, and that commit still
 * checks that every child exists. A stash ends with its lease: taken by a
 * successful commit, dropped on DELETE, or swept once its lease expired
 * (at the next stash, commit or abort of any laptop);
 * its temp files go with it (after a crash, the startup cleanup of
 * incoming/ removes them). One lease may stash at most MAX_STASH_BYTES.
 */
import { AppError } from '../../platform/errors.js';
import { parseTree, treeId } from '../../protocol/tree.js';
import type { Pool } from '../store/pool.js';

export interface StashedTree {
  text: string;
  tmp: string;
}

/** Per lease (a first backup of the reference Journal sends ~4 MB of trees; more goes with the commit). */
export const MAX_STASH_BYTES = 64 * 1024 * 1024;

export class TreeStash {
  private byLease = new Map<string, { trees: Map<string, StashedTree>; bytes: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly isLive: (lease: string) => boolean,
  ) {}

  /** Checks and stages trees for a lease; returns how many the lease holds now. */
  async add(lease: string, trees: Record<string, string>): Promise<number> {
    this.sweep();
    const s = this.byLease.get(lease) ?? { trees: new Map<string, StashedTree>(), bytes: 0 };
    this.byLease.set(lease, s);
    const fresh: Array<{ id: string; kind: 'tree'; data: string }> = [];
    let bytes = s.bytes;
    for (const [id, text] of Object.entries(trees)) {
      if (s.trees.has(id)) continue;
      if (treeId(text) !== id) throw new AppError('hash_mismatch', `tree ${id} does not match its content`);
      parseTree(text);
      bytes += text.length;
      if (bytes > MAX_STASH_BYTES)
        throw new AppError(
          'too_large',
          `a backup may send at most ${MAX_STASH_BYTES} bytes of trees ahead of its commit; send the rest with it`,
        );
      fresh.push({ id, kind: 'tree', data: text });
    }
    s.bytes = bytes;
    const staged = await this.pool.stageMany(fresh);
    for (const [i, st] of staged.entries()) {
      if (this.byLease.get(lease) !== s || s.trees.has(st.id))
        this.pool.discard([st]); // ended meanwhile, or sent twice at once
      else s.trees.set(st.id, { text: fresh[i].data, tmp: st.tmp });
    }
    return s.trees.size;
  }

  /** The lease's stashed trees (empty when none). */
  get(lease: string): Map<string, StashedTree> {
    return this.byLease.get(lease)?.trees ?? new Map();
  }

  /** Ends a lease's stash; temp files a commit did not publish are removed. */
  drop(lease: string): void {
    const s = this.byLease.get(lease);
    if (!s) return;
    this.byLease.delete(lease);
    this.pool.discard([...s.trees.values()]);
  }

  /** Ends the stashes of leases that expired (also run on every commit and abort). */
  sweep(): void {
    for (const lease of this.byLease.keys()) if (!this.isLive(lease)) this.drop(lease);
  }
}
