/**
 * pool — the content-addressed store of file blobs and directory trees.
 *
 *   <root>/pool/ab/cd/<sha256>   file contents, mode 0444, immutable
 *   <root>/trees/ab/<sha256>     directory listings (common/tree.ts), written
 *                                only by the server after it checked them and
 *                                every child they name
 *   <root>/incoming/             temp files and resumable partial uploads
 *
 * Contract: a blob becomes visible under its name only after its bytes hashed
 * to that name AND were flushed to disk (stage → syncfs → publish), so a crash
 * can never leave a wrong or half-written file under a valid name. A tree is
 * published only when every child it names is already published, so "the
 * tree is present" means "its whole closure is present".
 */
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { syncFilesystem } from '../common/durable.js';

export class Pool {
  readonly root: string;
  readonly poolDir: string;
  readonly treesDir: string;
  readonly incomingDir: string;
  private knownDirs = new Set<string>();

  constructor(root: string) {
    this.root = root;
    this.poolDir = join(root, 'pool');
    this.treesDir = join(root, 'trees');
    this.incomingDir = join(root, 'incoming');
    for (const d of [this.poolDir, this.treesDir, this.incomingDir]) mkdirSync(d, { recursive: true });
  }

  blobPath(id: string): string {
    return join(this.poolDir, id.slice(0, 2), id.slice(2, 4), id);
  }

  treePath(id: string): string {
    return join(this.treesDir, id.slice(0, 2), id);
  }

  /** Size of a published blob, or -1 when absent. */
  blobSize(id: string): number {
    try {
      return statSync(this.blobPath(id)).size;
    } catch {
      return -1;
    }
  }

  /**
   * Size of a blob after marking it in use now (its mtime), or -1 when absent.
   * Used wherever the server tells a client "this exists": GC (gc.ts) never
   * deletes an object claimed after the oldest live lease began.
   */
  claimBlob(id: string): number {
    return this.claim(this.blobPath(id));
  }

  claimTree(id: string): boolean {
    return this.claim(this.treePath(id)) >= 0;
  }

  private claim(path: string): number {
    try {
      const now = new Date();
      utimesSync(path, now, now);
      return statSync(path).size;
    } catch {
      return -1;
    }
  }

  hasTree(id: string): boolean {
    return existsSync(this.treePath(id));
  }

  readTree(id: string): string {
    return readFileSync(this.treePath(id), 'utf8');
  }

  readBlob(id: string): Buffer {
    return readFileSync(this.blobPath(id));
  }

  /** Writes bytes (already verified) to a temp file; publish() makes it visible. */
  stage(data: Buffer | string): string {
    const tmp = join(this.incomingDir, `${randomBytes(8).toString('hex')}.tmp`);
    writeFileSync(tmp, data, { mode: 0o444 });
    return tmp;
  }

  /** A temp path for a streamed write (resumable uploads use their own names). */
  tempPath(tag: string): string {
    return join(this.incomingDir, `${tag}.${randomBytes(6).toString('hex')}.tmp`);
  }

  private ensureDir(dir: string): void {
    if (this.knownDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    this.knownDirs.add(dir);
  }

  /** Moves flushed temp files to their final names. Call only after flush(). */
  publish(staged: Array<{ tmp: string; id: string; kind: 'blob' | 'tree' }>): void {
    for (const s of staged) {
      const final = s.kind === 'blob' ? this.blobPath(s.id) : this.treePath(s.id);
      this.ensureDir(join(final, '..'));
      if (this.claim(final) >= 0) unlinkSync(s.tmp);
      else renameSync(s.tmp, final);
    }
  }

  /** Drops temp files (a failed request). */
  discard(staged: Array<{ tmp: string }>): void {
    for (const s of staged) {
      try {
        unlinkSync(s.tmp);
      } catch {
        /* already gone */
      }
    }
  }

  /** One syncfs for everything written so far. */
  flush(): Promise<void> {
    return syncFilesystem(this.root);
  }

  /** Removes leftover temp files from an earlier crash (partial uploads are kept). */
  cleanIncoming(): void {
    for (const name of readdirSync(this.incomingDir)) {
      if (name.endsWith('.tmp')) unlinkSync(join(this.incomingDir, name));
    }
  }
}
