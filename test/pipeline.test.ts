/**
 * The upload pipeline against a real server: blobs offered while a "scan"
 * goes on are asked for in several requests and sent in several batches, two
 * in flight; what the server already has is not sent; a file that changed
 * after it was offered fails the run instead of being sent under a wrong name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../src/agent/client.js';
import { BlobPipeline } from '../src/agent/backup/pipeline.js';
import { FileChangedError, type UploadItem } from '../src/agent/backup/upload.js';
import { cleanup, registered, serverForSuite, tmp, token, type TestServer } from './helpers/harness.js';

let srv: TestServer;
serverForSuite((s) => (srv = s));

function files(n: number, tag: string, size = 700): UploadItem[] {
  const dir = join(tmp('pipe'), tag);
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: n }, (_, i) => {
    const path = join(dir, `f${i}`);
    const data = Buffer.from(`${tag} file ${i} `.repeat(size).slice(0, size));
    writeFileSync(path, data);
    return {
      id: createHash('sha256').update(data).digest('hex'),
      path,
      size: data.length,
      mtime: statSync(path).mtimeMs,
    };
  });
}

async function withLease<T>(serial: string, work: (c: ApiClient, lease: string) => Promise<T>): Promise<T> {
  const l = await registered(srv.url, serial);
  const client = new ApiClient(srv.url, token(l.profile));
  const { lease } = await client.json<{ lease: string }>('POST', '/api/v1/backups');
  try {
    return await work(client, lease);
  } finally {
    await client.json('DELETE', `/api/v1/backups/${lease}`).catch(() => {});
    await client.close();
    cleanup(l.profile);
  }
}

/** Offers like the scan does: a few at a time, waiting whenever pause() asks. */
async function offerAll(p: BlobPipeline, items: UploadItem[]): Promise<void> {
  for (const [i, it] of items.entries()) {
    p.offer(it);
    p.offer(it); // offered twice, sent once
    if (i % 10 === 9) await p.pause();
  }
}

test('blobs offered during a scan are asked for and sent in many batches; known ones are not sent', async () => {
  const items = files(300, 'a');
  await withLease('PIPE00001', async (client, lease) => {
    let missing = 0;
    const p = new BlobPipeline(client, lease, (n) => (missing += n), undefined, { askCount: 40, batchBytes: 20_000 });
    await offerAll(p, items.slice(0, 200));
    const first = await p.finish();
    assert.equal(first.blobs, 200);
    assert.equal(missing, 200 * 700);
    const again = new BlobPipeline(client, lease, undefined, undefined, { askCount: 40, batchBytes: 20_000 });
    await offerAll(again, items);
    const second = await again.finish();
    assert.equal(second.blobs, 100, 'only the 100 the server lacks');
    const r = await client.json<{ missing: string[] }>('POST', `/api/v1/backups/${lease}/missing`, {
      json: { ids: items.map((i) => i.id) },
    });
    assert.deepEqual(r.missing, []);
  });
});

test('a file that changed after it was offered fails the pipeline with FileChangedError', async () => {
  const items = files(50, 'b');
  await withLease('PIPE00002', async (client, lease) => {
    const p = new BlobPipeline(client, lease, undefined, undefined, { askCount: 10, batchBytes: 5_000 });
    writeFileSync(items[33].path, 'changed after the scan hashed it');
    await assert.rejects(async () => {
      await offerAll(p, items);
      await p.finish();
    }, FileChangedError);
  });
});

test('large blobs go through resumable uploads alongside the batches', async () => {
  const items = files(20, 'c');
  const big = join(tmp('pipebig'), 'video');
  const data = Buffer.alloc(5 * 1024 * 1024 + 123);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i); // not all zeros, not compressible by the sample test
  writeFileSync(big, data);
  const bigItem = {
    id: createHash('sha256').update(data).digest('hex'),
    path: big,
    size: data.length,
    mtime: statSync(big).mtimeMs,
  };
  await withLease('PIPE00003', async (client, lease) => {
    const p = new BlobPipeline(client, lease, undefined, undefined, { askCount: 5, batchBytes: 3_000 });
    await offerAll(p, [...items.slice(0, 10), bigItem, ...items.slice(10)]);
    const st = await p.finish();
    assert.equal(st.blobs, 21);
    assert.equal(st.bytes, 20 * 700 + data.length);
    const r = await client.json<{ missing: string[] }>('POST', `/api/v1/backups/${lease}/missing`, {
      json: { ids: [bigItem.id] },
    });
    assert.deepEqual(r.missing, []);
  });
});
