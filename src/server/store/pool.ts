/**
 * pool — the content-addressed objects: file blobs and directory trees, by id,
 * in an object store (object-store.ts; keys pool/ab/<id> and trees/ab/<id>).
 *
 * Contract: a blob becomes visible under its name only after its bytes hashed
 * to that name AND were flushed (stage → flush → publish), so a crash can
 * never leave a wrong or half-written object under a valid name. A tree is
 * published only when every child it names is already published, so "the
 * tree is present" means "its whole closure is present".
 *
 * Reads are asynchronous; on the local store they are answered from its
 * synchronous fast path (`sync`) at once. The indexer, which runs inside a
 * catalog transaction, reads through prefetched(). On a remote store, tree
 * texts read are kept in a bounded memory cache (content-addressed).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { entryKind, entryRef, readTrustedTree, type Tree, type TreeEntry } from '../../protocol/tree.js';
import { parseChunkList } from '../../protocol/chunked.js';
import {
  blobKey,
  needSync,
  readAll,
  treeKey,
  type ByteRange,
  type ObjectReader,
  type ObjectStore,
  type StagedObject,
  type SyncObjectAccess,
} from './object-store.js';

/** Blobs up to this size are kept in memory a while after they arrive (see `tiny`). */
export const TINY_BLOB = 512;
const TINY_TOTAL = 8 * 1024 * 1024;

/**
 * Catalog references (entries' data, preview and layout-0 metadata) name a
 * pool blob, or carry a file small enough to live inline in its tree as
 * `inline:<base64>` (common/tree.ts, kind "i"), or a big file's chunk list
 * as `chunks:<list>` (kind "c", protocol/chunked.ts).
 */
export const INLINE_REF = 'inline:';
export const CHUNKS_REF = 'chunks:';

export function refOf(e: TreeEntry): string {
  const k = entryKind(e);
  return k === 'i' ? INLINE_REF + entryRef(e) : k === 'c' ? CHUNKS_REF + entryRef(e) : entryRef(e);
}

/** What a catalog reference streams from: bytes in hand, one blob, or chunks in order. */
export type RefSource = Buffer | { blob: string } | { chunks: Array<[string, number]> };

export class Pool {
  /**
   * Bytes of tiny blobs received lately (Journal metadata values: titles,
   * mime types, timestamps). The commit's indexer reads thousands of them
   * right after they arrived; serving them from memory saved a 30,000-file
   * first commit ~0.15 s of file opens. Content-addressed and verified, so
   * never stale; bounded (cleared when full).
   */
  private tiny = new Map<string, Buffer>();
  private tinyBytes = 0;
  /** Trees read from or published to a remote store (bounded like `tiny`). */
  private trees = new Map<string, string>();
  private treeBytes = 0;

  constructor(readonly objects: ObjectStore) {}

  /** The local fast path (synchronous stat/touch/read), or null for a remote store. */
  get local(): SyncObjectAccess | null {
    return this.objects.sync ?? null;
  }

  /** Size of a published blob, or -1 when absent. */
  async blobSize(id: string): Promise<number> {
    return (this.local ? this.local.stat(blobKey(id)) : await this.objects.stat(blobKey(id)))?.size ?? -1;
  }

  /**
   * Size of a blob after marking it in use now (its mtime), or -1 when absent.
   * Used wherever the server tells a client "this exists": GC (gc.ts) never
   * deletes an object claimed after the oldest live lease began.
   */
  async claimBlob(id: string): Promise<number> {
    return this.local ? this.local.touch(blobKey(id)) : this.objects.touch(blobKey(id));
  }

  /** claimBlob for many ids: at most CLAIMS_IN_FLIGHT requests at once on a remote store. */
  claimBlobs(ids: readonly string[]): Promise<number[]> {
    return this.many(ids, (id) => this.claimBlob(id));
  }

  /** blobSize for many ids (as claimBlobs). */
  blobSizes(ids: readonly string[]): Promise<number[]> {
    return this.many(ids, (id) => this.blobSize(id));
  }

  /** Tree texts for many ids (as claimBlobs). */
  readTrees(ids: readonly string[]): Promise<string[]> {
    return this.many(ids, (id) => this.readTree(id));
  }

  private async many<T>(ids: readonly string[], fn: (id: string) => Promise<T>): Promise<T[]> {
    const out = new Array<T>(ids.length);
    await inParallel(ids.length, this.local ? 1 : CLAIMS_IN_FLIGHT, async (i) => {
      out[i] = await fn(ids[i]);
    });
    return out;
  }

  async claimTree(id: string): Promise<boolean> {
    return (this.local ? this.local.touch(treeKey(id)) : await this.objects.touch(treeKey(id))) >= 0;
  }

  async hasTree(id: string): Promise<boolean> {
    return (this.local ? this.local.stat(treeKey(id)) : await this.objects.stat(treeKey(id))) !== null;
  }

  async readTree(id: string): Promise<string> {
    if (this.local) return this.local.read(treeKey(id)).toString('utf8');
    const hit = this.trees.get(id);
    if (hit !== undefined) return hit;
    const text = (await readAll(this.objects.get(treeKey(id)))).toString('utf8');
    this.rememberTree(id, text);
    return text;
  }

  /** The bytes a (small) catalog reference names (inline, in the pool, or chunks joined). */
  async refBytes(ref: string): Promise<Buffer> {
    if (ref.startsWith(INLINE_REF)) return Buffer.from(ref.slice(INLINE_REF.length), 'base64');
    if (ref.startsWith(CHUNKS_REF)) {
      const parts: Buffer[] = [];
      for (const [id] of parseChunkList(ref.slice(CHUNKS_REF.length)).chunks) parts.push(await this.readBlob(id));
      return Buffer.concat(parts);
    }
    return this.readBlob(ref);
  }

  /** What to stream for a catalog reference (sourceStream/sourceSize). */
  refSource(ref: string): RefSource {
    if (ref.startsWith(INLINE_REF)) return Buffer.from(ref.slice(INLINE_REF.length), 'base64');
    if (ref.startsWith(CHUNKS_REF)) return { chunks: parseChunkList(ref.slice(CHUNKS_REF.length)).chunks };
    return { blob: ref };
  }

  /** Bytes of a source, or -1 when (a part of) it is missing from the pool. */
  async sourceSize(src: RefSource): Promise<number> {
    if (Buffer.isBuffer(src)) return src.length;
    if ('blob' in src) return this.blobSize(src.blob);
    let sum = 0;
    for (const [id, size] of src.chunks) {
      if ((await this.blobSize(id)) !== size) return -1;
      sum += size;
    }
    return sum;
  }

  /** A source's bytes as a stream: a chunked file one chunk open at a time (never whole in memory). */
  sourceStream(src: RefSource): Readable {
    if (Buffer.isBuffer(src)) return Readable.from([src]);
    if ('blob' in src) return this.blobStream(src.blob);
    return this.chunksStream(src.chunks);
  }

  /** The chunks of a chunked file, in order, as one stream. */
  chunksStream(chunks: ReadonlyArray<readonly [string, number]>): Readable {
    const objects = this.objects;
    return Readable.from(
      (async function* () {
        for (const [id, size] of chunks) {
          let got = 0;
          for await (const c of objects.get(blobKey(id))) {
            got += (c as Buffer).length;
            yield c as Buffer;
          }
          if (got !== size) throw new Error(`chunk ${id} has ${got} bytes, the file's list says ${size}`);
        }
      })(),
      { objectMode: false },
    );
  }

  /** The bytes of a file entry of a tree. */
  entryBytes(e: TreeEntry): Promise<Buffer> {
    return this.refBytes(refOf(e));
  }

  async readBlob(id: string): Promise<Buffer> {
    const hit = this.tiny.get(id);
    if (hit) return hit;
    return this.local ? this.local.read(blobKey(id)) : readAll(this.objects.get(blobKey(id)));
  }

  /**
   * A tree source for synchronous readers (the indexer runs inside a catalog
   * transaction): reads from `extra` first, then the store. On a remote store
   * it serves what was fetched before: see prefetched().
   */
  syncSource(extra?: ReadonlyMap<string, Tree>, fetched?: FetchedObjects): SyncTreeSource {
    const local = this.local;
    return {
      tree: (id) => {
        const t = extra?.get(id);
        if (t) return t;
        if (local) return readTrustedTree(local.read(treeKey(id)).toString('utf8'));
        return fetched!.tree(id);
      },
      blob: (id) => {
        const hit = this.tiny.get(id);
        if (hit) return hit;
        if (local) return local.read(blobKey(id));
        return fetched!.blob(id);
      },
    };
  }

  /**
   * Runs a synchronous computation over trees and blobs (`fn`; the indexer
   * runs inside a catalog transaction) on a store without synchronous reads:
   * dry passes run inside `dry` (which must undo fn's effects, e.g. a
   * transaction rolled back) and record what they lacked (answered meanwhile
   * with an empty tree or blob); the lacking objects are fetched together,
   * a few at a time, and the next pass goes on. When a dry pass lacked
   * nothing, fn runs once for real. Passes: about the depth of the trees
   * read. Locally, fn runs once on the synchronous reads.
   */
  async prefetched<T>(
    extra: ReadonlyMap<string, Tree> | undefined,
    fn: (src: SyncTreeSource) => T,
    dry: (pass: () => void) => void = (pass) => pass(),
  ): Promise<T> {
    if (this.local) return fn(this.syncSource(extra));
    const fetched = new FetchedObjects();
    for (;;) {
      try {
        dry(() => void fn(this.syncSource(extra, fetched)));
      } catch {
        /* a pass on placeholders may fail; what it lacked is fetched below, a real failure repeats below */
      }
      const lacking = fetched.takeLacking();
      if (!lacking.length) return fn(this.syncSource(extra, fetched));
      await inParallel(lacking.length, CLAIMS_IN_FLIGHT, async (i) => {
        const [kind, id] = lacking[i];
        if (kind === 'tree') fetched.trees.set(id, readTrustedTree(await this.readTree(id)));
        else fetched.blobs.set(id, await this.readBlob(id));
      });
    }
  }

  /** A blob's bytes as a stream (a range of them when given). */
  blobStream(id: string, range?: ByteRange): Readable {
    return this.objects.get(blobKey(id), range);
  }

  /** A blob opened for reads into the caller's buffers (restores: reused 1 MiB slots); local stores only. */
  openBlob(id: string): ObjectReader {
    return needSync(this.objects, 'reading blobs into buffers').open(blobKey(id));
  }

  /** Keeps a tree's text read from a remote store (see `trees`). */
  private rememberTree(id: string, text: string): void {
    if (this.treeBytes + text.length > TREE_CACHE_BYTES) {
      this.trees.clear();
      this.treeBytes = 0;
    }
    this.trees.set(id, text);
    this.treeBytes += text.length + 100;
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

  /** Writes a verified blob's slices where publish() will make them visible (off the event loop). */
  stageBlob(id: string, parts: Buffer[]): Promise<StagedObject> {
    return this.objects.stage(blobKey(id), parts);
  }

  /**
   * Stages many objects at once, `parallel` writes in flight in the thread
   * pool: a file creation waits on the filesystem journal while other
   * writes are being flushed, and a first commit creates thousands of trees.
   */
  async stageMany(
    objects: Array<{ id: string; kind: 'blob' | 'tree'; data: string | Buffer }>,
    parallel = 8,
  ): Promise<Array<StagedObject & { id: string }>> {
    const staged: Array<StagedObject & { id: string }> = new Array(objects.length);
    let next = 0;
    let failed: unknown = null;
    const worker = async () => {
      while (next < objects.length && !failed) {
        const i = next++;
        const o = objects[i];
        try {
          const key = o.kind === 'blob' ? blobKey(o.id) : treeKey(o.id);
          const data = typeof o.data === 'string' ? Buffer.from(o.data) : o.data;
          staged[i] = { ...(await this.objects.stage(key, [data])), id: o.id };
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

  /** A local temp file for a streamed write (legacy copies; resumable uploads use their own names). */
  tempPath(tag: string): string {
    return this.objects.scratchPath(`${tag}.${randomBytes(6).toString('hex')}.tmp`);
  }

  /** Moves a finished temp file in as blob `id` (a local rename; an upload elsewhere). */
  putBlobFile(id: string, tempPath: string): Promise<void> {
    return this.objects.putFile(blobKey(id), tempPath);
  }

  /** Makes flushed staged objects visible, in the order given. Call only after flush(). */
  publish(staged: readonly StagedObject[]): Promise<void> {
    return this.objects.publish(staged);
  }

  /** Drops temp files (a failed request). */
  discard(staged: ReadonlyArray<{ tmp: string }>): void {
    this.objects.discard(staged);
  }

  /** Makes everything staged so far durable (one syncfs locally). */
  flush(): Promise<void> {
    return this.objects.flush();
  }

  /** Removes leftover temp files from an earlier crash (partial uploads are kept). */
  cleanIncoming(): void {
    this.objects.cleanScratch();
  }
}

/** Requests in flight at once for existence checks and prefetches on a remote store. */
export const CLAIMS_IN_FLIGHT = 16;

/** Trees read from a remote store kept in memory (content-addressed: never stale). */
const TREE_CACHE_BYTES = 32 * 1024 * 1024;

/** A synchronous source of trees and blobs (catalog/indexer.ts's TreeSource). */
export interface SyncTreeSource {
  tree(id: string): Tree;
  blob(id: string): Buffer;
}

/** Objects prefetched for synchronous readers, and the ones a pass asked for but lacked. */
export class FetchedObjects {
  readonly trees = new Map<string, Tree>();
  readonly blobs = new Map<string, Buffer>();
  private lacking = new Map<string, 'tree' | 'blob'>();

  tree(id: string): Tree {
    const t = this.trees.get(id);
    if (t) return t;
    this.lacking.set(id, 'tree');
    return { v: 1, e: [] } as unknown as Tree;
  }

  blob(id: string): Buffer {
    const b = this.blobs.get(id);
    if (b) return b;
    this.lacking.set(id, 'blob');
    return Buffer.alloc(0);
  }

  takeLacking(): Array<['tree' | 'blob', string]> {
    const out = [...this.lacking].map(([id, kind]) => [kind, id] as ['tree' | 'blob', string]);
    this.lacking = new Map();
    return out;
  }
}

/** Runs fn(0..n-1) with at most `width` calls in flight; the first error is thrown after all settle. */
export async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < n && !failure) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  if (failure) throw failure;
}
