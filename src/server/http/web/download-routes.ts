/**
 * download-routes — getting documents back, every one authorized by
 * kit.device() (the version row must belong to the laptop's account):
 *
 *   GET /ui/j/:serial/v/:id/entry.xoj     Journal Entry Bundle (application/vnd.olpc-journal-entry)
 *   GET /ui/j/:serial/v/:id/data          the data file, title + extension, the entry's mime type
 *   GET /ui/j/:serial/v/:id/preview.png   the preview as PNG (base64 previews decoded), cached
 *   GET /ui/j/:serial/b/:sn/:name/all.zip every data file of one backup (streamed)
 *   GET /ui/j/:serial/b/:sn/:name/all.xob Sugar's whole-Journal backup of that date (streamed)
 *
 * contentDisposition() writes a plain ASCII filename (characters Windows or
 * a quoted string cannot hold replaced by _) and the exact one as RFC 5987
 * filename*.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { isSerial, isSnapshotName, wellFormed } from '../../../protocol/names.js';
import { dataFileName, XOJ_MIME, xojFileName, xojZip } from '../../../journal/bundle.js';
import { decodePreview } from '../../../journal/metadata.js';
import type { EntryRow } from '../../catalog/catalog.js';
import { entryMetadata } from './entry-content.js';
import { snapshotXob, snapshotZip, XOB_MIME, xobFileName } from './exports.js';
import { JournalQuery } from '../../catalog/journal-query.js';
import type { WebKit, WebReq } from './kit.js';

export function contentDisposition(raw: string): string {
  const name = wellFormed(raw); // a lone surrogate would make encodeURIComponent throw
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\<>:|?*]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

const SAFE_MIME = /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/i;
const idParams = {
  type: 'object',
  properties: { serial: { type: 'string', maxLength: 64 }, id: { type: 'string', pattern: '^[0-9]{1,15}$' } },
};

export function downloadRoutes(app: FastifyInstance, kit: WebKit): void {
  const q = new JournalQuery(kit.ctx.store.db);
  const pool = kit.ctx.store.pool;
  const version = (w: WebReq, serial: string, id: string): EntryRow => {
    const dev = kit.device(w, serial);
    const e = q.entry(dev.account_id, Number(id));
    if (!e) throw new AppError('not_found', w.t('notFound'));
    return e;
  };

  app.get<{ Params: { serial: string; id: string } }>(
    '/j/:serial/v/:id/entry.xoj',
    { schema: { params: idParams } },
    async (req, reply) => {
      const w = kit.req(req);
      const e = version(w, req.params.serial, req.params.id);
      if (!e.data_blob) throw new AppError('not_found', w.t('noData'));
      const src = pool.refSource(e.data_blob);
      const data = Buffer.isBuffer(src) ? src : pool.sourceStream(src);
      const zip = xojZip({ uid: e.uid, metadata: await entryMetadata(pool, e), data });
      req.log.info({ uid: e.uid, account: e.account_id }, 'web restore: xoj');
      return reply
        .type(XOJ_MIME)
        .header('Content-Disposition', contentDisposition(xojFileName(e.title, e.uid)))
        .header('Cache-Control', 'private, no-store')
        .send(zip.outputStream);
    },
  );

  app.get<{ Params: { serial: string; id: string } }>(
    '/j/:serial/v/:id/data',
    { schema: { params: idParams } },
    async (req, reply) => {
      const w = kit.req(req);
      const e = version(w, req.params.serial, req.params.id);
      if (!e.data_blob) throw new AppError('not_found', w.t('noData'));
      const source = pool.refSource(e.data_blob);
      const size = await pool.sourceSize(source);
      if (size < 0) throw new AppError('not_found', 'the file is missing from the pool');
      const mime = SAFE_MIME.test(e.mime_type.split(';')[0].trim())
        ? e.mime_type.split(';')[0].trim()
        : 'application/octet-stream';
      return reply
        .type(mime)
        .header('Content-Length', String(size))
        .header('X-Content-Type-Options', 'nosniff')
        .header('Content-Security-Policy', "default-src 'none'; sandbox")
        .header('Content-Disposition', contentDisposition(dataFileName(e.title, e.mime_type, e.uid)))
        .header('Cache-Control', 'private, no-store')
        .send(Buffer.isBuffer(source) ? source : pool.sourceStream(source));
    },
  );

  app.get<{ Params: { serial: string; id: string } }>(
    '/j/:serial/v/:id/preview.png',
    { schema: { params: idParams } },
    async (req, reply) => {
      const w = kit.req(req);
      const e = version(w, req.params.serial, req.params.id);
      if (!e.preview_blob) throw new AppError('not_found', w.t('notFound'));
      const etag = `"${e.preview_blob}"`;
      reply
        .header('ETag', etag)
        .header('Cache-Control', 'private, max-age=86400')
        .header('X-Content-Type-Options', 'nosniff');
      if (req.headers['if-none-match'] === etag) return reply.status(304).send();
      return reply.type('image/png').send(decodePreview(await pool.refBytes(e.preview_blob)));
    },
  );

  const snapshot = (w: WebReq, serial: string, sn: string, name: string) => {
    const dev = kit.device(w, serial);
    const snap = isSerial(sn) && isSnapshotName(name) ? q.snapshot(dev.account_id, sn, name) : undefined;
    if (!snap || snap.source !== 'datastore') throw new AppError('not_found', w.t('notFound'));
    return snap;
  };

  app.get<{ Params: { serial: string; sn: string; name: string } }>(
    '/j/:serial/b/:sn/:name/all.zip',
    async (req, reply) => {
      const w = kit.req(req);
      const snap = snapshot(w, req.params.serial, req.params.sn, req.params.name);
      const zip = await snapshotZip(pool, q.allAtSnapshot(snap));
      const name = `${snap.serial}_${new Date(snap.created_at).toISOString().slice(0, 10).replace(/-/g, '')}.zip`;
      return reply
        .type('application/zip')
        .header('Content-Disposition', contentDisposition(name))
        .header('Cache-Control', 'private, no-store')
        .send(zip.outputStream);
    },
  );

  app.get<{ Params: { serial: string; sn: string; name: string } }>(
    '/j/:serial/b/:sn/:name/all.xob',
    async (req, reply) => {
      const w = kit.req(req);
      const snap = snapshot(w, req.params.serial, req.params.sn, req.params.name);
      return reply
        .type(XOB_MIME)
        .header('Content-Disposition', contentDisposition(xobFileName(snap.serial, snap.created_at)))
        .header('Cache-Control', 'private, no-store')
        .send(snapshotXob(pool, snap));
    },
  );
}
