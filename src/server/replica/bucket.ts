/**
 * bucket — the few S3 calls the replica makes, counted (requests, bytes), and
 * its layout in the bucket:
 *
 *   s3://bucket/objects/<name>           content objects, shared by every school
 *                                        using the same key (the district's)
 *   s3://bucket/<prefix>/records/<name>  this school's records
 *
 * Names are HMACs (crypto.ts): the provider sees no hash, path or serial.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ReplicaUrl } from './s3.js';

export interface Counters {
  requests: number;
  bytesUp: number;
  bytesDown: number;
}

export class Bucket {
  readonly counters: Counters = { requests: 0, bytesUp: 0, bytesDown: 0 };
  readonly contentPrefix = 'objects/';
  readonly recordPrefix: string;

  constructor(
    readonly client: S3Client,
    readonly url: ReplicaUrl,
  ) {
    this.recordPrefix = `${url.prefix ? url.prefix + '/' : ''}records/`;
  }

  async put(key: string, body: Buffer): Promise<void> {
    this.counters.requests++;
    await this.client.send(new PutObjectCommand({ Bucket: this.url.bucket, Key: key, Body: body }));
    this.counters.bytesUp += body.length;
  }

  async get(key: string): Promise<Buffer> {
    this.counters.requests++;
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.url.bucket, Key: key }));
    const b = Buffer.from(await r.Body!.transformToByteArray());
    this.counters.bytesDown += b.length;
    return b;
  }

  /** Names (the part after `prefix`) of every object under prefix, page by page. */
  async listNames(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      this.counters.requests++;
      const r = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.url.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(prefix.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}

/** Runs `fn` over items with at most `n` in flight; the first error is thrown after all settle. */
export async function parallel<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure;
}
