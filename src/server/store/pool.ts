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
 * The synchronous readers (commit checks, indexer, restores) use the store's
 * local fast path (`sync`).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { entryKind, entryRef, type TreeEntry } from '../../protocol/tree.js';
import { parseChunkList } from '../../protocol/chunked.js';
import {
  blobKey,
  needSync,
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

  constructor(readonly objects: ObjectStore) {}

  private get local(): SyncObjectAccess {
    return needSync(this.objects, 'reading the pool synchronously');
  }

  /** Size of a published blob, or -1 when absent. */
  blobSize(id: string): number {
    return this.local.stat(blobKey(id))?.size ?? -1;
  }

  /**
   * Size of a blob after marking it in use now (its mtime), or -1 when absent.
   * Used wherever the server tells a client "this exists": GC (gc.ts) never
   * deletes an object claimed after the oldest live lease began.
   */
  claimBlob(id: string): number {
    return this.local.touch(blobKey(id));
  }

  claimTree(id: string): boolean {
    return this.local.touch(treeKey(id)) >= 0;
  }

  hasTree(id: string): boolean {
    return this.local.stat(treeKey(id)) !== null;
  }

  readTree(id: string): string {
    return this.local.read(treeKey(id)).toString('utf8');
  }

  /** The bytes a (small) catalog reference names (inline, in the pool, or chunks joined). */
  refBytes(ref: string): Buffer {
    if (ref.startsWith(INLINE_REF)) return Buffer.from(ref.slice(INLINE_REF.length), 'base64');
    if (ref.startsWith(CHUNKS_REF))
      return Buffer.concat(parseChunkList(ref.slice(CHUNKS_REF.length)).chunks.map(([id]) => this.readBlob(id)));
    return this.readBlob(ref);
  }

  /** What to stream for a catalog reference (sourceStream/sourceSize). */
  refSource(ref: string): RefSource {
    if (ref.startsWith(INLINE_REF)) return this.refBytes(ref);
    if (ref.startsWith(CHUNKS_REF)) return { chunks: parseChunkList(ref.slice(CHUNKS_REF.length)).chunks };
    return { blob: ref };
  }

  /** Bytes of a source, or -1 when (a part of) it is missing from the pool. */
  sourceSize(src: RefSource): number {
    if (Buffer.isBuffer(src)) return src.length;
    if ('blob' in src) return this.blobSize(src.blob);
    let sum = 0;
    for (const [id, size] of src.chunks) {
      if (this.blobSize(id) !== size) return -1;
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
  entryBytes(e: TreeEntry): Buffer {
    return this.refBytes(refOf(e));
  }

  readBlob(id: string): Buffer {
    return this.tiny.get(id) ?? this.local.read(blobKey(id));
  }

  /** A blob's bytes as a stream (a range of them when given). */
  blobStream(id: string, range?: ByteRange): Readable {
    return this.objects.get(blobKey(id), range);
  }

  /** A blob opened for reads into the caller's buffers (restores: reused 1 MiB slots). */
  openBlob(id: string): ObjectReader {
    return this.local.open(blobKey(id));
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
