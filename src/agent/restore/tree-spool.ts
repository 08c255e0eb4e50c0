/**
 * tree-spool — a snapshot's trees for a full restore, kept in a temp file
 * instead of memory (issue #13: the agent's memory must not grow with the
 * Journal). Fetched level by level, many per request, each checked against
 * its id and written to the spool; in memory only id → where it is (a few
 * dozen bytes a folder). `get` reads and parses one tree.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import { sha256Hex } from '../../protocol/hash.js';
import { entryRef, isDirEntry, parseTree, readTrustedTree, type Tree } from '../../protocol/tree.js';
import { API } from '../../protocol/api.js';
import { TREE_FETCH_COUNT } from '../../protocol/limits.js';
import type { ApiClient } from '../client.js';

export interface TreeSource {
  get(id: string): Tree | undefined;
}

export class TreeSpool implements TreeSource {
  private readonly dir = mkdtempSync(join(tmpdir(), 'ds-backup-trees-'));
  private readonly fd = openSync(join(this.dir, 'trees'), 'w+', 0o600);
  private readonly at = new Map<string, number>();
  private readonly len: number[] = [];
  private readonly pos: number[] = [];
  private size = 0;

  private put(id: string, text: string): void {
    const b = Buffer.from(text);
    writeSync(this.fd, b, 0, b.length, this.size);
    this.at.set(id, this.pos.length);
    this.pos.push(this.size);
    this.len.push(b.length);
    this.size += b.length;
  }

  has(id: string): boolean {
    return this.at.has(id);
  }

  get(id: string): Tree | undefined {
    const i = this.at.get(id);
    if (i === undefined) return undefined;
    const b = Buffer.allocUnsafe(this.len[i]);
    readSync(this.fd, b, 0, b.length, this.pos[i]);
    return readTrustedTree(b.toString('utf8'));
  }

  /** Fetches every tree under `root` into the spool. */
  async fetch(client: ApiClient, root: string): Promise<this> {
    let level = [root];
    while (level.length) {
      const want = [...new Set(level.filter((id) => !this.has(id)))];
      const next: string[] = [];
      for (let i = 0; i < want.length; i += TREE_FETCH_COUNT) {
        const r = await client.call(API.trees, {}, { json: { ids: want.slice(i, i + TREE_FETCH_COUNT) } });
        for (const [id, text] of Object.entries(r.trees)) {
          if (sha256Hex(text) !== id) throw new AppError('hash_mismatch', `server sent a damaged tree ${id}`);
          for (const e of parseTree(text).e) if (isDirEntry(e)) next.push(entryRef(e));
          this.put(id, text);
        }
      }
      level = next;
    }
    return this;
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
