/**
 * uplink — how replicate talks to the bucket under its bandwidth cap:
 *
 *  - putPaced: a PUT whose body streams through the replica's token bucket
 *    (admission/bandwidth.ts: tokens are bytes, refilled at the cap), so the
 *    bytes leave the server at the cap and no faster, whatever the number of
 *    uploads in flight. The SDK does not retry a streamed body (it cannot
 *    rewind it), so each attempt here starts a fresh stream: up to 4
 *    attempts, 0.5 s, 1 s, 2 s apart. Counted in the bucket's counters.
 *  - deleteKeys: DeleteObjects, 1000 keys a request (the S3 limit); a key
 *    the store reports as not deleted fails the call.
 */
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { AppError } from '../../platform/errors.js';
import type { TokenBucket } from '../admission/bandwidth.js';
import type { Bucket } from './bucket.js';

const ATTEMPTS = 4;

export async function putPaced(bucket: Bucket, key: string, body: Buffer, pace: TokenBucket): Promise<void> {
  if (pace.rate <= 0) {
    pace.bytes += body.length;
    return bucket.put(key, body);
  }
  for (let attempt = 1; ; attempt++) {
    bucket.counters.requests++;
    try {
      await bucket.client.send(
        new PutObjectCommand({
          Bucket: bucket.url.bucket,
          Key: key,
          Body: Readable.from(pace.throttle(once(body))),
          ContentLength: body.length,
        }),
      );
      bucket.counters.bytesUp += body.length;
      return;
    } catch (e) {
      if (attempt >= ATTEMPTS || !retryable(e)) throw e;
      await delay(250 * 2 ** attempt);
    }
  }
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

/** Network errors, throttling and 5xx are worth another attempt; 4xx answers are not. */
function retryable(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === undefined || status >= 500 || status === 429;
}

export async function deleteKeys(bucket: Bucket, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const part = keys.slice(i, i + 1000);
    bucket.counters.requests++;
    const r = await bucket.client.send(
      new DeleteObjectsCommand({
        Bucket: bucket.url.bucket,
        Delete: { Objects: part.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length)
      throw new AppError(
        'unavailable',
        `the replica refused to delete ${failed.length} object(s): ${failed[0].Code ?? ''} ${failed[0].Message ?? ''}`,
      );
  }
}
