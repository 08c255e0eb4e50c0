/**
 * s3-store — the object store in an S3-compatible bucket (`serve --store
 * s3://bucket/prefix`; object-store.ts has the contract). Keys are those of
 * the local store under the prefix: <prefix>/pool/ab/<id>, <prefix>/trees/ab/<id>,
 * <prefix>/users/<SN>/<name>/snapshot.json. The client is the replica's
 * (replica/s3.ts: endpoint and credentials from AWS_* or the config file;
 * what Swift's s3api needs).
 *
 * What stays local, under the root: scratch space (incoming/: staged
 * objects and resumable parts, written and flushed there, then PUT — an S3
 * object is visible only once its PUT completed, so no half object is ever
 * read), and claims.sqlite (catalog/claims.ts).
 *
 *  - putIfAbsent: HEAD, then PUT when absent. Not atomic (Swift's s3api has
 *    no conditional PUT): two writers may both PUT. Pool and tree objects are
 *    content-addressed, so both write the same bytes; snapshot records are
 *    named by the one process that serves the laptop (allocateName).
 *  - publish: the staged files are PUT, CONCURRENCY at once. The order the
 *    caller gives (children before parents) is not kept across a batch; a
 *    tree counts as present for a commit only when the account already
 *    references it (ingest's `owns`), which it does only after a commit's
 *    whole publish succeeded, so a crash mid-batch cannot make a commit
 *    accept a tree whose child never arrived.
 *  - touch/stat/sweep: an object's "in use since" is the later of its
 *    LastModified and its claim time (claims.sqlite); sweep dooms the key
 *    there before the DELETE, and touch refuses doomed keys (claims.ts).
 *  - deleteFolder: the snapshot records first (a snapshot is then gone for
 *    every reader), then the rest of the folder.
 */
import { createReadStream, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ClaimLog } from '../catalog/claims.js';
import type { ReplicaUrl } from '../replica/s3.js';
import { inParallel } from './pool.js';
import type { ByteRange, ObjectInfo, ObjectStat, ObjectStore, StagedObject } from './object-store.js';

/** Requests in flight at once for a batch of PUTs. */
const CONCURRENCY = 16;
const BAD_SEGMENT = /^(|\.|\.\.)$/;

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
}

/** An S3 "not found" as the filesystem's (callers test ENOENT: fs-errors.ts). */
function missing(key: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`ENOENT: no object ${key}`);
  e.code = 'ENOENT';
  return e;
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly scratchDir: string;
  private readonly base: string;
  private readonly tmpPrefix = randomBytes(6).toString('hex');
  private tmpCount = 0;

  constructor(
    private readonly client: S3Client,
    private readonly url: ReplicaUrl,
    root: string,
    private readonly claims: ClaimLog,
  ) {
    this.location = `s3://${url.bucket}${url.prefix ? '/' + url.prefix : ''}`;
    this.base = url.prefix ? `${url.prefix}/` : '';
    this.scratchDir = join(root, 'incoming');
    mkdirSync(this.scratchDir, { recursive: true });
  }

  private s3Key(key: string): string {
    if (key.split('/').some((p) => BAD_SEGMENT.test(p)) || key.includes('\0')) throw new Error(`bad object key ${key}`);
    return this.base + key;
  }

  private async head(key: string): Promise<{ size: number; mtimeMs: number } | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.url.bucket, Key: this.s3Key(key) }));
      return { size: r.ContentLength ?? 0, mtimeMs: r.LastModified?.getTime() ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  private async put(key: string, body: Buffer | Readable, length: number): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.url.bucket, Key: this.s3Key(key), Body: body, ContentLength: length }),
    );
  }

  private async putPath(key: string, path: string): Promise<void> {
    const size = statSync(path).size;
    // Small files in one buffer (a retried request can resend it); larger ones streamed.
    if (size <= 8 * 1024 * 1024) {
      const fh = await open(path, 'r');
      try {
        await this.put(key, await fh.readFile(), size);
      } finally {
        await fh.close();
      }
    } else await this.put(key, createReadStream(path), size);
  }

  async putIfAbsent(key: string, data: Buffer | string | readonly Buffer[]): Promise<boolean> {
    if (await this.head(key)) return false;
    const body = typeof data === 'string' ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.concat(data);
    await this.put(key, body, body.length);
    return true;
  }

  async putFile(key: string, tempPath: string): Promise<void> {
    await this.putPath(key, tempPath);
    unlinkSync(tempPath);
  }

  get(key: string, range?: ByteRange): Readable {
    if (range && range.end !== undefined && range.end <= range.start) return Readable.from([]);
    const out = new PassThrough();
    const Range = range ? `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}` : undefined;
    this.client
      .send(new GetObjectCommand({ Bucket: this.url.bucket, Key: this.s3Key(key), Range }))
      .then((r) => {
        const body = r.Body as Readable;
        body.on('error', (e) => out.destroy(e));
        out.on('close', () => body.destroy());
        body.pipe(out);
      })
      .catch((e: unknown) => out.destroy(isNotFound(e) ? missing(key) : (e as Error)));
    return out;
  }

  async stat(key: string): Promise<ObjectStat | null> {
    const st = await this.head(key);
    return st && { size: st.size, mtimeMs: Math.max(st.mtimeMs, this.claims.claimedAt(key)) };
  }

  async touch(key: string): Promise<number> {
    if (!this.claims.claim(key, Date.now())) return -1; // being deleted: "missing", the client sends it again
    return (await this.head(key))?.size ?? -1;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.url.bucket, Prefix: this.base + prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) if (o.Key) yield { key: o.Key.slice(this.base.length) };
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<boolean> {
    if (!(await this.head(key))) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.url.bucket, Key: this.s3Key(key) }));
    return true;
  }

  async deleteFolder(folderKey: string): Promise<boolean> {
    const keys: string[] = [];
    for await (const { key } of this.list(`${folderKey}/`)) keys.push(key);
    if (!keys.length) return false;
    const records = keys.filter((k) => k.endsWith('/snapshot.json'));
    for (const k of records) await this.delete(k);
    for (const k of keys) if (!records.includes(k)) await this.delete(k);
    return true;
  }

  removeLeftovers(): number {
    return 0; // deleteFolder hides nothing: a crash leaves a folder without its record, listed by no reader
  }

  async stage(key: string, parts: readonly Buffer[]): Promise<StagedObject> {
    const tmp = join(this.scratchDir, `${this.tmpPrefix}-${++this.tmpCount}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(parts.length === 1 ? parts[0] : Buffer.concat(parts as Buffer[]));
    } catch (e) {
      await fh.close().catch(() => {}); // the write's error is the one to report
      unlinkSync(tmp);
      throw e;
    }
    await fh.close();
    return { key, tmp };
  }

  /** Nothing to flush: an object is durable when its PUT is acknowledged (publish). */
  async flush(): Promise<void> {}

  async publish(staged: readonly StagedObject[]): Promise<void> {
    await inParallel(staged.length, CONCURRENCY, (i) => this.putPath(staged[i].key, staged[i].tmp));
    this.discard(staged);
  }

  discard(staged: ReadonlyArray<{ tmp: string }>): void {
    for (const s of staged) {
      try {
        unlinkSync(s.tmp);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  async sweep(key: string, horizonMs: number, opts: { dryRun: boolean; guarded: boolean }): Promise<number> {
    const st = await this.stat(key);
    if (!st || st.mtimeMs >= horizonMs) return -1;
    if (opts.dryRun) return st.size;
    if (!this.claims.doom(key, horizonMs)) return -1;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.url.bucket, Key: this.s3Key(key) }));
    } finally {
      this.claims.release(key);
    }
    return st.size;
  }

  recoverSweeps(): number {
    return this.claims.releaseAll();
  }

  scratchPath(name: string): string {
    if (name.includes('/') || BAD_SEGMENT.test(name)) throw new Error(`bad scratch name ${name}`);
    return join(this.scratchDir, name);
  }

  cleanScratch(): void {
    for (const name of readdirSync(this.scratchDir)) if (name.endsWith('.tmp')) unlinkSync(join(this.scratchDir, name));
  }
}
