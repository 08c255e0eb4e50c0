/**
 * documents-routes — the laptop's Documents folder as it was in each
 * backup, for its student (or the admin); kit.device() authorizes:
 *
 *   GET /ui/j/:serial/docs                       the Documents backups, newest first
 *   GET /ui/j/:serial/docs/:sn/:name?path=a/b    one folder of one backup: folders, then files
 *   GET /ui/j/:serial/docs/:sn/:name/file?path=  one file, streamed from the pool
 *
 * A path is walked one name at a time through the backup's trees (every
 * step must be a folder of that tree; no "..", no empty names), so it can
 * only reach what that backup holds. Links are listed, never followed.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { isSerial, isSnapshotName } from '../../../protocol/names.js';
import {
  entryName,
  entryRef,
  entrySize,
  isDirEntry,
  isFileEntry,
  readTrustedTree,
  type TreeEntry,
} from '../../../protocol/tree.js';
import type { SnapshotRow } from '../../catalog/catalog.js';
import { refOf } from '../../store/pool.js';
import { contentDisposition } from './download-routes.js';
import { html, qs } from './html.js';
import { JournalQuery } from '../../catalog/journal-query.js';
import type { WebKit, WebReq } from './kit.js';
import { cut, formatSize } from './layout.js';

const DOCS = 'documents';
type P = { Params: { serial: string; sn: string; name: string }; Querystring: { path?: string } };
const pathQuery = { type: 'object', properties: { path: { type: 'string', maxLength: 4096 } } };

export function documentsRoutes(app: FastifyInstance, kit: WebKit): void {
  const q = new JournalQuery(kit.ctx.store.db);
  const pool = kit.ctx.store.pool;

  const backup = (w: WebReq, serial: string, sn: string, name: string) => {
    const dev = kit.device(w, serial);
    const snap = isSerial(sn) && isSnapshotName(name) ? q.snapshot(dev.account_id, sn, name) : undefined;
    if (!snap || snap.source !== DOCS) throw new AppError('not_found', w.t('notFound'));
    return { dev, snap };
  };

  /** The entries of the folder at `parts` in the backup, or the file entry when `file`. */
  const walk = async (w: WebReq, snap: SnapshotRow, parts: string[]): Promise<TreeEntry[]> => {
    let tree = readTrustedTree(await pool.readTree(snap.root)).e;
    for (const part of parts) {
      const e = tree.find((x) => entryName(x) === part && isDirEntry(x));
      if (!e) throw new AppError('not_found', w.t('notFound'));
      tree = readTrustedTree(await pool.readTree(entryRef(e))).e;
    }
    return tree;
  };
  const split = (w: WebReq, path: string | undefined) => {
    const parts = (path ?? '').split('/').filter((p) => p !== '');
    if (parts.some((p) => p === '.' || p === '..')) throw new AppError('not_found', w.t('notFound'));
    return parts;
  };

  app.get<{ Params: { serial: string } }>('/j/:serial/docs', async (req, reply) => {
    const w = kit.req(req);
    const dev = kit.device(w, req.params.serial);
    const snaps = q.snapshots(dev.account_id, DOCS);
    const body = snaps.length
      ? html`<ul class="sentences">
          ${snaps.map(
            (s) =>
              html`<li>
                <a href="/ui/j/${dev.serial}/docs/${s.serial}/${s.name}" title="${w.dates.full(s.created_at)}"
                  >${w.dates.when(s.created_at)}</a
                >
                <span class="small">(${formatSize(s.bytes)})</span>
              </li>`,
          )}
        </ul>`
      : html`<p class="msg">${w.t('noDocumentsBackups')}</p>`;
    return kit.send(reply, w, w.t('documentsFolder'), body, kit.nav(w));
  });

  app.get<P>('/j/:serial/docs/:sn/:name', { schema: { querystring: pathQuery } }, async (req, reply) => {
    const w = kit.req(req);
    const { dev, snap } = backup(w, req.params.serial, req.params.sn, req.params.name);
    const parts = split(w, req.query.path);
    const entries = await walk(w, snap, parts);
    const at = `/ui/j/${dev.serial}/docs/${snap.serial}/${snap.name}`;
    const sub = (name: string) => [...parts, name].join('/');
    const crumbs = [html`<a href="${at}">${w.t('documentsFolder')}</a>`].concat(
      parts.map((p, i) => html` / <a href="${at}${qs({ path: parts.slice(0, i + 1).join('/') })}">${cut(p, 60)}</a>`),
    );
    const dirs = entries.filter(isDirEntry);
    const files = entries.filter(isFileEntry);
    const rows = [
      ...dirs.map(
        (e) =>
          html`<tr>
            <td><a dir="auto" href="${at}${qs({ path: sub(entryName(e)) })}">📁 ${cut(entryName(e))}</a></td>
            <td class="num wide"></td>
            <td class="do"></td>
          </tr>`,
      ),
      ...files.map(
        (e) =>
          html`<tr>
            <td><span dir="auto">${cut(entryName(e))}</span></td>
            <td class="num wide">${formatSize(entrySize(e))}</td>
            <td class="do">
              <a
                class="button light"
                href="${at}/file${qs({ path: sub(entryName(e)) })}"
                aria-label="${w.t('downloadFile')}: ${entryName(e)}"
                >${w.t('downloadFile')}</a
              >
            </td>
          </tr>`,
      ),
    ];
    const body = html`<p>${crumbs}</p>
      ${
        rows.length
          ? html`<table class="cards plain">
              <tr class="head">
                <th>${w.t('title')}</th>
                <th class="num c-size">${w.t('size')}</th>
                <th class="c-do"><span class="vh">${w.t('actions')}</span></th>
              </tr>
              ${rows}
            </table>`
          : html`<p class="msg">${w.t('emptyFolder')}</p>`
      }`;
    return kit.send(reply, w, w.t('documentsOf', { date: w.dates.when(snap.created_at) }), body, kit.nav(w));
  });

  app.get<P>('/j/:serial/docs/:sn/:name/file', { schema: { querystring: pathQuery } }, async (req, reply) => {
    const w = kit.req(req);
    const { snap } = backup(w, req.params.serial, req.params.sn, req.params.name);
    const parts = split(w, req.query.path);
    const name = parts.pop();
    const e = name ? (await walk(w, snap, parts)).find((x) => entryName(x) === name && isFileEntry(x)) : undefined;
    if (!e) throw new AppError('not_found', w.t('notFound'));
    const source = pool.refSource(refOf(e));
    const size = await pool.sourceSize(source);
    if (size < 0) throw new AppError('not_found', 'the file is missing from the pool');
    return reply
      .type('application/octet-stream')
      .header('Content-Length', String(size))
      .header('X-Content-Type-Options', 'nosniff')
      .header('Content-Disposition', contentDisposition(name!))
      .header('Cache-Control', 'private, no-store')
      .send(Buffer.isBuffer(source) ? source : pool.sourceStream(source));
  });
}
