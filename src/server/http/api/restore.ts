/**
 * routes/restore — reading back an account's own backups.
 *
 *   GET  /api/v1/snapshots                         the account's snapshots, oldest first
 *   GET  /api/v1/snapshots/:serial/:name/entries   Journal entries of one snapshot
 *   POST /api/v1/trees         {ids}               tree texts
 *   POST /api/v1/blobs/fetch   {ids}               frames of blobs, any size, streamed (many files, one request)
 *   GET  /api/v1/blobs/:id                         one blob, streamed
 *
 * A device may read only trees and blobs its account references
 * (account_blobs); anything else answers 404, whether it exists or not.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { unlessMissing } from '../../../platform/fs-errors.js';
import { API } from '../../../protocol/api.js';
import type { EntryView, SnapshotsAnswer, SnapshotView, TreesAnswer } from '../../../protocol/api-types.js';
import { BLOB_ID_RE } from '../../../protocol/hash.js';
import { FETCH_BODY, FETCH_IDS_MAX } from '../../../protocol/limits.js';
import { canonicalSerial, isSnapshotName } from '../../../protocol/names.js';
import { requireDevice } from '../../accounts/auth.js';
import type { EntryRow, SnapshotRow } from '../../catalog/catalog.js';
import { accountSnapshot, accountSnapshots } from '../../catalog/snapshots.js';
import { entriesAtSnapshot } from '../../catalog/entries.js';
import { owns } from '../../catalog/refs.js';
import type { ServerContext } from '../context.js';
import { framesLength, sendBlobFrames } from './blob-sender.js';

const idsBody = {
  type: 'object',
  required: ['ids'],
  additionalProperties: false,
  properties: {
    ids: { type: 'array', maxItems: FETCH_IDS_MAX, items: { type: 'string', pattern: BLOB_ID_RE.source } },
  },
};

export function snapshotView(s: SnapshotRow): SnapshotView {
  return {
    serial: s.serial,
    name: s.name,
    source: s.source,
    createdAt: s.created_at,
    root: s.root,
    files: s.files,
    bytes: s.bytes,
    runId: s.run_id,
  };
}

export function entryView(e: EntryRow): EntryView {
  return {
    uid: e.uid,
    version: e.version,
    layout: e.layout,
    title: e.title,
    activity: e.activity,
    mimeType: e.mime_type,
    timestamp: e.timestamp,
    keep: e.keep === 1,
    dataBlob: e.data_blob,
    dataSize: e.data_size,
    previewBlob: e.preview_blob,
    previewSize: e.preview_size,
    problems: e.problems ? (JSON.parse(e.problems) as string[]) : [],
  };
}

export function restoreRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;
  const authorize = (accountId: number, ids: string[]) => {
    const unknown = ids.filter((id) => !owns(store.db, accountId, id));
    if (unknown.length)
      throw new AppError('not_found', `${unknown.length} requested objects are not in your backups`, {
        details: { unknown: unknown.slice(0, 100) },
      });
  };

  app.get(API.snapshots.url, async (req): Promise<SnapshotsAnswer> => {
    const dev = requireDevice(store.registry, req);
    const rows = accountSnapshots(store.db, dev.account_id);
    return { serial: dev.serial, snapshots: rows.map(snapshotView) };
  });

  app.get<{ Params: { serial: string; name: string } }>(API.snapshotEntries.url, async (req) => {
    const dev = requireDevice(store.registry, req);
    const { name } = req.params;
    const serial = canonicalSerial(req.params.serial);
    if (!serial || !isSnapshotName(name)) throw new AppError('bad_request', 'bad snapshot reference');
    const snap = accountSnapshot(store.db, dev.account_id, serial, name);
    if (!snap) throw new AppError('not_found', `no snapshot ${serial}/${name} in your backups`);
    const rows = entriesAtSnapshot(store.db, snap);
    return { snapshot: snapshotView(snap), entries: rows.map(entryView) };
  });

  app.post<{ Body: { ids: string[] } }>(
    API.trees.url,
    { bodyLimit: FETCH_BODY, schema: { body: idsBody } },
    async (req): Promise<TreesAnswer> => {
      const dev = requireDevice(store.registry, req);
      const ids = [...new Set(req.body.ids)];
      authorize(dev.account_id, ids);
      const texts = await store.pool.readTrees(ids).catch((e: unknown) => {
        unlessMissing(e);
        throw new AppError('not_found', 'a tree asked for is not in your backups');
      });
      const trees: Record<string, string> = {};
      ids.forEach((id, i) => (trees[id] = texts[i]));
      return { trees };
    },
  );

  app.post<{ Body: { ids: string[] } }>(
    API.blobsFetch.url,
    { bodyLimit: FETCH_BODY, schema: { body: idsBody } },
    async (req, reply) => {
      const dev = requireDevice(store.registry, req);
      const ids = [...new Set(req.body.ids)];
      authorize(dev.account_id, ids);
      const sizes = await store.pool.blobSizes(ids);
      const absent = sizes.indexOf(-1);
      if (absent >= 0) throw new AppError('not_found', `blob ${ids[absent]} is missing from the pool`);
      // Streamed through a few fixed buffers (blob-sender.ts): memory stays flat whatever the sizes.
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(framesLength(sizes)),
      });
      await sendBlobFrames(reply.raw, store.pool, ids, sizes).catch((e: unknown) =>
        req.log.warn({ err: e }, 'blob stream cut short'),
      );
    },
  );

  app.get<{ Params: { id: string } }>(
    API.blob.url,
    {
      schema: {
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', pattern: BLOB_ID_RE.source } },
        },
      },
    },
    async (req, reply) => {
      const dev = requireDevice(store.registry, req);
      authorize(dev.account_id, [req.params.id]);
      const size = await store.pool.blobSize(req.params.id);
      if (size < 0) throw new AppError('not_found', 'blob is missing from the pool');
      reply.header('Content-Length', String(size));
      return reply.type('application/octet-stream').send(store.pool.blobStream(req.params.id));
    },
  );
}
