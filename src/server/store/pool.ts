/**
 * pool — the content-addressed store of file blobs and directory trees.
 *
 *   <root>/pool/ab/<sha256>      file contents, mode 0444, immutable (one level of
 *                                256 folders, made up front: see POOL_DEPTH)
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
import {
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  existsSync,
  readdirSync,
  utimesSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { syncFilesystem } from '../../platform/durable.js';
import type { TreeEntry } from '../../protocol/tree.js';
import { unlessMissing } from '../../platform/fs-errors.js';

/**
 * Folder levels under pool/ (and trees/): one, like git's loose objects.
 * DESIGN.md had two (pool/ab/cd/); measured here, creating the ~24,000 leaf
 * folders a fresh pool needs cost 1.2–2 s of a first backup (and 65,536
 * folders of 4 KiB each on a full server), while ext4's hashed directories
 * keep lookups fast with tens of thousands of names per folder.
 */
export const POOL_DEPTH = 1;

/** Blobs up to this size are kept in memory a while after they arrive (see `tiny`). */
export const TINY_BLOB = 512;
const TINY_TOTAL = 8 * 1024 * 1024;

/**
 * Objects stored under `dir` (pool/ or trees/, `depth` folder levels) as
 * {path, id}. With pick(), only the leaf folders it picks are listed (a
 * sample without listing everything).
 */
export function* listObjects(
  dir: string,
  depth: number,
  pick?: () => boolean,
): Generator<{ path: string; id: string }> {
  if (depth === 0 && pick && !pick()) return;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    unlessMissing(e);
    return;
  }
  for (const n of names) {
    if (depth > 0) yield* listObjects(join(dir, n), depth - 1, pick);
    else if (/^[0-9a-f]{64}$/.test(n)) yield { path: join(dir, n), id: n };
  }
}

/**
 * Catalog references (entries' data, preview and layout-0 metadata) name a
 * pool blob, or carry a file small enough to live inline in its tree as
 * `inline:<base64>` (common/tree.ts, kind "i").
 */
export const INLINE_REF = 'inline:';

export function refOf(e: TreeEntry): string {
  return e[1] === 'i' ? INLINE_REF + e[5] : e[5];
}

/** The slices left after the first n bytes. */
function skipBytes(parts: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < parts.length && n >= parts[i].length) n -= parts[i++].length;
  if (i === parts.length) return [];
  return n ? [parts[i].subarray(n), ...parts.slice(i + 1)] : parts.slice(i);
}

export class Pool {
  readonly root: string;
  readonly poolDir: string;
  readonly treesDir: string;
  readonly incomingDir: string;
  /**
   * Bytes of tiny blobs received lately (Journal metadata values: titles,
   * mime types, timestamps). The commit's indexer reads thousands of them
   * right after they arrived; serving them from memory saved a 30,000-file
   * first commit ~0.15 s of file opens. Content-addressed and verified, so
   * never stale; bounded (cleared when full).
   */
  private tiny = new Map<string, Buffer>();
  private tinyBytes = 0;
  /** Temp names: a per-process random prefix and a counter (no random bytes per file). */
  private tmpPrefix = randomBytes(6).toString('hex');
  private tmpCount = 0;

  constructor(root: string) {
    this.root = root;
    this.poolDir = join(root, 'pool');
    this.treesDir = join(root, 'trees');
    this.incomingDir = join(root, 'incoming');
    for (const d of [this.poolDir, this.treesDir, this.incomingDir]) mkdirSync(d, { recursive: true });
    if (!existsSync(join(this.treesDir, 'ff'))) {
      for (let i = 0; i < 256; i++) {
        const ab = i.toString(16).padStart(2, '0');
        mkdirSync(join(this.poolDir, ab), { recursive: true });
        mkdirSync(join(this.treesDir, ab), { recursive: true });
      }
    }
  }

  blobPath(id: string): string {
    return join(this.poolDir, id.slice(0, 2), id);
  }

  treePath(id: string): string {
    return join(this.treesDir, id.slice(0, 2), id);
  }

  /** Size of a published blob, or -1 when absent. */
  blobSize(id: string): number {
    try {
      return statSync(this.blobPath(id)).size;
    } catch (e) {
      unlessMissing(e);
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

  /** (A stat that says "absent" without throwing: a first backup asks this of thousands of new blobs.) */
  private claim(path: string): number {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return -1;
    try {
      const now = new Date();
      utimesSync(path, now, now);
      return st.size;
    } catch {
      return -1; // gone, or cannot be claimed: answer "missing" (the safe side: the client sends it again)
    }
  }

  hasTree(id: string): boolean {
    return existsSync(this.treePath(id));
  }

  readTree(id: string): string {
    return readFileSync(this.treePath(id), 'utf8');
  }

  /** The bytes a catalog reference names (inline or in the pool). */
  refBytes(ref: string): Buffer {
    return ref.startsWith(INLINE_REF) ? Buffer.from(ref.slice(INLINE_REF.length), 'base64') : this.readBlob(ref);
  }

  /** What to stream for a catalog reference: inline bytes, or the pool file's path. */
  refSource(ref: string): Buffer | string {
    return ref.startsWith(INLINE_REF) ? this.refBytes(ref) : this.blobPath(ref);
  }

  /** The bytes of a file entry of a tree. */
  entryBytes(e: TreeEntry): Buffer {
    return this.refBytes(refOf(e));
  }

  readBlob(id: string): Buffer {
    return this.tiny.get(id) ?? readFileSync(this.blobPath(id));
  }

  /** Keeps a verified tiny blob's bytes for readBlob (see `tiny`). */
  rememberTiny(id: string, data: Buffer): void {
    if (data.length > TINY_BLOB || this.tiny.has(id)) return;
    if (this.tinyBytes + data.length > TINY_TOTAL) {
      this.tiny.clear();
      this.tinyBytes = 0;
    }
    this.tiny.set(id, Buffer.from(data)); // a copy: the payload may be a slice of a larger chunk
    this.tinyBytes += data.length + 100;
  }

  private nextTemp(): string {
    return join(this.incomingDir, `${this.tmpPrefix}-${++this.tmpCount}.tmp`);
  }

  /** Writes bytes (already verified) to a temp file; publish() makes it visible. */
  stage(data: Buffer | string): string {
    const tmp = this.nextTemp();
    writeFileSync(tmp, data, { mode: 0o444 });
    return tmp;
  }

  /**
   * stage() for bytes in slices, off the event loop (the write runs in
   * libuv's thread pool while the caller reads and hashes the next blob).
   */
  async stageParts(parts: Buffer[]): Promise<string> {
    const tmp = this.nextTemp();
    const fh = await open(tmp, 'w', 0o444);
    try {
      let left = parts;
      while (left.length) {
        const { bytesWritten } = await fh.writev(left);
        left = skipBytes(left, bytesWritten);
      }
    } catch (e) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    return tmp;
  }

  /**
   * stage() for many objects at once, `parallel` writes in flight in the
   * thread pool: a file creation waits on the filesystem journal while other
   * writes are being flushed, and a first commit creates thousands of trees.
   */
  async stageMany<K extends 'blob' | 'tree'>(
    objects: Array<{ id: string; kind: K; data: string | Buffer }>,
    parallel = 8,
  ): Promise<Array<{ tmp: string; id: string; kind: K }>> {
    const staged: Array<{ tmp: string; id: string; kind: K }> = new Array(objects.length);
    let next = 0;
    let failed: unknown = null;
    const worker = async () => {
      while (next < objects.length && !failed) {
        const i = next++;
        const o = objects[i];
        try {
          staged[i] = {
            tmp: await this.stageParts([typeof o.data === 'string' ? Buffer.from(o.data) : o.data]),
            id: o.id,
            kind: o.kind,
          };
        } catch (e) {
          failed ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, objects.length) }, worker));
    if (failed) {
      this.discard(staged.filter(Boolean));
      throw failed;
    }
    return staged;
  }

  /** A temp path for a streamed write (resumable uploads use their own names). */
  tempPath(tag: string): string {
    return join(this.incomingDir, `${tag}.${randomBytes(6).toString('hex')}.tmp`);
  }

  /**
   * Moves flushed temp files to their final names. Call only after flush().
   * One rename per file. A name already present holds the same bytes
   * (content addressed), so replacing it is harmless, and the new file's
   * recent mtime claims it for GC as claim() would.
   */
  publish(staged: Array<{ tmp: string; id: string; kind: 'blob' | 'tree' }>): void {
    for (const s of staged) {
      const final = s.kind === 'blob' ? this.blobPath(s.id) : this.treePath(s.id);
      try {
        renameSync(s.tmp, final);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync(s.tmp)) throw e;
        mkdirSync(dirname(final), { recursive: true }); // its folder went missing
        renameSync(s.tmp, final);
      }
    }
  }

  /** Drops temp files (a failed request). */
  discard(staged: Array<{ tmp: string }>): void {
    for (const s of staged) {
      try {
        unlinkSync(s.tmp);
      } catch (e) {
        unlessMissing(e);
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
