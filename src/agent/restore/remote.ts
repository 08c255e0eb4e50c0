/**
 * remote — reading snapshots back from the server: the snapshot list, trees
 * (fetched level by level, many per request) and blobs: for a full restore
 * many per request, of any size, fed piece by piece to a FrameSink
 * (requestBlobs + feedFrames; feedBlob for one beyond a frame's 32-bit
 * length); fetchBlobs hands whole small blobs to a callback (one entry).
 */
import { AppError } from '../../platform/errors.js';
import { FrameParser, readFrames, type FrameSink } from '../../protocol/frame-parser.js';
import { sha256Hex } from '../../protocol/hash.js';
import { entryRef, isDirEntry, parseTree, type Tree } from '../../protocol/tree.js';
import { API, apiPath } from '../../protocol/api.js';
import type { SnapshotView, SnapshotsAnswer } from '../../protocol/api-types.js';
import { FRAME_HEADER } from '../../protocol/frames.js';
import { FRAMED_BLOB_MAX, TREE_FETCH_COUNT } from '../../protocol/limits.js';
import type { ApiClient } from '../client.js';
import { YoungGc } from './young-gc.js';

export type RemoteSnapshot = SnapshotView;

export async function listSnapshots(client: ApiClient): Promise<SnapshotsAnswer> {
  return client.call(API.snapshots, {});
}

/** Picks the snapshots to restore: the named one, or the latest of each source. */
export function pickSnapshots(
  all: RemoteSnapshot[],
  ownSerial: string,
  name?: string,
  source?: string,
): RemoteSnapshot[] {
  if (name) {
    const hits = all.filter((s) => s.name === name);
    const hit = hits.find((s) => s.serial === ownSerial) ?? hits[hits.length - 1];
    if (!hit) throw new AppError('not_found', `no snapshot named ${name}; see: ds-backup list`);
    return [hit];
  }
  const latest = new Map<string, RemoteSnapshot>();
  for (const s of all) if (!source || s.source === source) latest.set(s.source, s);
  if (!latest.size) throw new AppError('not_found', 'this laptop has no backups yet');
  return [...latest.values()];
}

/** Fetches every tree under `root` (a Map id → parsed tree). */
export async function fetchTrees(
  client: ApiClient,
  root: string,
  have = new Map<string, Tree>(),
): Promise<Map<string, Tree>> {
  let level = [root];
  while (level.length) {
    const want = [...new Set(level.filter((id) => !have.has(id)))];
    const next: string[] = [];
    for (let i = 0; i < want.length; i += TREE_FETCH_COUNT) {
      const r = await client.call(
        API.trees,
        {},
        {
          json: { ids: want.slice(i, i + TREE_FETCH_COUNT) },
        },
      );
      for (const [id, text] of Object.entries(r.trees)) {
        if (sha256Hex(text) !== id) throw new AppError('hash_mismatch', `server sent a damaged tree ${id}`);
        const t = parseTree(text);
        have.set(id, t);
        for (const e of t.e) if (isDirEntry(e)) next.push(entryRef(e));
      }
    }
    level = next;
  }
  return have;
}

/** Fetches many small blobs in one request; calls onBlob for each, hash-checked. */
export async function fetchBlobs(
  client: ApiClient,
  ids: string[],
  onBlob: (id: string, data: Buffer) => void,
): Promise<void> {
  const res = await client.raw(API.blobsFetch.method, API.blobsFetch.url, { json: { ids } });
  for await (const f of readFrames(res.body as AsyncIterable<Buffer>, FRAMED_BLOB_MAX)) {
    client.receivedBytes += f.payload.length + FRAME_HEADER;
    if (sha256Hex(f.payload) !== f.id) throw new AppError('hash_mismatch', `server sent damaged bytes for ${f.id}`);
    onBlob(f.id, f.payload);
  }
}

/**
 * Asks for many blobs, of any size, in one framed response (the server
 * streams each blob from its pool file). Resolves when the answer starts.
 */
export async function requestBlobs(client: ApiClient, ids: string[]): Promise<AsyncIterable<Buffer>> {
  return (await client.raw(API.blobsFetch.method, API.blobsFetch.url, { json: { ids } })).body as AsyncIterable<Buffer>;
}

/** Feeds a framed response to `sink` piece by piece (no payload is buffered whole). */
export async function feedFrames(
  client: ApiClient,
  body: AsyncIterable<Buffer>,
  sink: FrameSink,
  maxPayload: number,
): Promise<void> {
  const parser = new FrameParser(sink, maxPayload);
  const gc = new YoungGc();
  for await (const chunk of body) {
    client.receivedBytes += chunk.length;
    parser.push(chunk);
    gc.received(chunk.length);
  }
  parser.finish();
}

/** One blob too large for a frame, fed to `sink` as one frame (plain GET stream). */
export async function feedBlob(client: ApiClient, id: string, size: number, sink: FrameSink): Promise<void> {
  const gc = new YoungGc();
  sink.start(id, 0, size);
  for await (const chunk of await fetchBlobStream(client, id)) {
    client.receivedBytes += chunk.length;
    sink.data(chunk);
    gc.received(chunk.length);
  }
  sink.end();
}

/** One blob as a stream (files too large for a frame). */
export async function fetchBlobStream(client: ApiClient, id: string): Promise<AsyncIterable<Buffer>> {
  const res = await client.raw(API.blob.method, apiPath(API.blob, { id }));
  return res.body as AsyncIterable<Buffer>;
}
