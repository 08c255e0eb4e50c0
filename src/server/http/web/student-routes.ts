/**
 * student-routes — the Journal pages of one laptop's account, for its
 * student (or the admin):
 *
 *   GET  /ui/j/:serial                 latest version of every document (?q= &kind= &when= &page=);
 *                                      when last backed up, or that there is no backup yet
 *   GET  /ui/j/:serial/backups         backup dates, pin / unpin a date
 *   GET  /ui/j/:serial/b/:sn/:name     the documents as they were in one backup
 *   GET  /ui/j/:serial/e/:uid          one document's versions across backups
 *   GET  /ui/j/:serial/v/:id           one version's details
 *   POST /ui/j/:serial/pin             pin / unpin (kind, ref, action, back, _csrf)
 * Downloads are in download-routes.ts. kit.device() authorizes every one.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { isSerial, isSnapshotName } from '../../../protocol/names.js';
import { UID_RE } from '../../../journal/metadata.js';
import type { DeviceRow } from '../../catalog/catalog.js';
import { html } from './html.js';
import { DashboardCatalog } from '../../catalog/web-dashboard.js';
import { allListed, isKind, isWhen, KINDS, whenRange } from './kinds.js';
import { displayMetadata, entryMetadata } from './entry-content.js';
import { JournalQuery, SOURCE, type ListQuery } from '../../catalog/journal-query.js';
import { formString, type WebKit, type WebReq } from './kit.js';
import type { PinKind, PinsPort } from './pins-port.js';
import {
  backupList,
  detailsView,
  entryList,
  snapshotHeader,
  titleOf,
  versionsView,
  type ListFilter,
  type ViewCtx,
} from './student-pages.js';

type Q = { q?: string; page?: string; kind?: string; when?: string };
const listQuery = {
  type: 'object',
  properties: {
    q: { type: 'string', maxLength: 200 },
    page: { type: 'string', pattern: '^[0-9]{1,6}$' },
    kind: { type: 'string', maxLength: 20 },
    when: { type: 'string', maxLength: 20 },
  },
};

/** The list's filters from the query string (unknown kinds and dates are ignored). */
function listFilter(w: WebReq, query: Q): { f: ListFilter; q: ListQuery } {
  const kind = isKind(query.kind) ? query.kind : '';
  const when = isWhen(query.when) ? query.when : '';
  const f = { q: query.q ?? '', kind, when };
  const q: ListQuery = { q: f.q, page: Number(query.page ?? 1) };
  if (kind === 'other') Object.assign(q, { activities: allListed(), notActivities: true });
  else if (kind) q.activities = KINDS[kind];
  if (when) Object.assign(q, whenRange(when, w.dates));
  return { f, q };
}
const serialParam = { type: 'string', maxLength: 64 };

export function viewCtx(w: WebReq, dev: DeviceRow, req: FastifyRequest): ViewCtx {
  return {
    t: w.t,
    lang: w.lang,
    dates: w.dates,
    serial: dev.serial,
    csrf: w.session?.csrf ?? '',
    here: req.url.slice(0, 500),
    admin: w.session?.kind === 'admin',
  };
}

export function studentRoutes(app: FastifyInstance, kit: WebKit, pins: PinsPort): void {
  const q = new JournalQuery(kit.ctx.store.db);
  const dash = new DashboardCatalog(kit.ctx.store.db);
  const title = (w: WebReq, dev: DeviceRow) =>
    w.session?.kind === 'admin' ? w.t('journalOf', { name: `${dev.nickname} (${dev.serial})` }) : w.t('myJournal');

  app.get<{ Params: { serial: string }; Querystring: Q }>(
    '/j/:serial',
    { schema: { querystring: listQuery } },
    async (req, reply) => {
      const w = kit.req(req);
      const dev = kit.device(w, req.params.serial);
      const v = viewCtx(w, dev, req);
      const snaps = q.snapshots(dev.account_id);
      if (!snaps.length)
        return kit.send(reply, w, title(w, dev), html`<p class="msg">${w.t('noBackupsYet')}</p>`, kit.nav(w));
      const { f, q: lq } = listFilter(w, req.query);
      const page = q.latest(dev.account_id, lq);
      const last = snaps[0].created_at;
      const body = html`<p>
          <strong title="${w.dates.full(last)}">${w.t('lastBackupWas', { when: w.dates.when(last) })}</strong> ·
          <a href="/ui/j/${dev.serial}/backups">${w.t('olderBackups')} →</a>
        </p>
        ${entryList(v, `/ui/j/${dev.serial}`, f, page, pins.pinned(dev.account_id, 'entry'), true)}`;
      return kit.send(reply, w, title(w, dev), body, kit.nav(w));
    },
  );

  app.get<{ Params: { serial: string } }>('/j/:serial/backups', async (req, reply) => {
    const w = kit.req(req);
    const dev = kit.device(w, req.params.serial);
    const body = backupList(
      viewCtx(w, dev, req),
      q.snapshots(dev.account_id),
      dash.documentsPerBackup(dev.account_id, SOURCE),
      pins.pinned(dev.account_id, 'snapshot'),
    );
    return kit.send(reply, w, w.t('olderBackups'), body, kit.nav(w));
  });

  app.get<{ Params: { serial: string; sn: string; name: string }; Querystring: Q }>(
    '/j/:serial/b/:sn/:name',
    { schema: { querystring: listQuery } },
    async (req, reply) => {
      const w = kit.req(req);
      const dev = kit.device(w, req.params.serial);
      const { sn, name } = req.params;
      const snap = isSerial(sn) && isSnapshotName(name) ? q.snapshot(dev.account_id, sn, name) : undefined;
      if (!snap) throw new AppError('not_found', w.t('notFound'));
      const v = viewCtx(w, dev, req);
      const path = `/ui/j/${dev.serial}/b/${sn}/${name}`;
      const { f, q: lq } = listFilter(w, req.query);
      const page = q.atSnapshot(snap, lq);
      const body = html`${snapshotHeader(v, snap)}${entryList(v, path, f, page, pins.pinned(dev.account_id, 'entry'), false)}`;
      return kit.send(reply, w, w.t('backupOf', { date: w.dates.when(snap.created_at) }), body, kit.nav(w));
    },
  );

  app.get<{ Params: { serial: string; uid: string } }>('/j/:serial/e/:uid', async (req, reply) => {
    const w = kit.req(req);
    const dev = kit.device(w, req.params.serial);
    const rows = UID_RE.test(req.params.uid) ? q.versions(dev.account_id, req.params.uid) : [];
    if (!rows.length) throw new AppError('not_found', w.t('notFound'));
    const v = viewCtx(w, dev, req);
    const body = versionsView(v, rows, q.bySeq(dev.account_id), pins.isPinned(dev.account_id, 'entry', rows[0].uid));
    return kit.send(reply, w, titleOf(v, rows[0]), body, kit.nav(w));
  });

  app.get<{ Params: { serial: string; id: string } }>(
    '/j/:serial/v/:id',
    {
      schema: {
        params: {
          type: 'object',
          properties: { serial: serialParam, id: { type: 'string', pattern: '^[0-9]{1,15}$' } },
        },
      },
    },
    async (req, reply) => {
      const w = kit.req(req);
      const dev = kit.device(w, req.params.serial);
      const e = q.entry(dev.account_id, Number(req.params.id));
      if (!e) throw new AppError('not_found', w.t('notFound'));
      const v = viewCtx(w, dev, req);
      const body = html`<p><a href="/ui/j/${dev.serial}/e/${e.uid}">← ${w.t('versions')}</a></p>
        ${detailsView(v, e, displayMetadata(await entryMetadata(kit.ctx.store.pool, e)))}`;
      return kit.send(reply, w, titleOf(v, e), body, kit.nav(w));
    },
  );

  app.post<{ Params: { serial: string }; Body: Record<string, unknown> }>('/j/:serial/pin', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = kit.device(w, req.params.serial);
    const kind = formString(req.body, 'kind') as PinKind;
    const ref = formString(req.body, 'ref');
    const ok =
      kind === 'entry'
        ? UID_RE.test(ref) && q.versions(dev.account_id, ref).length > 0
        : kind === 'snapshot' &&
          (() => {
            const [sn, name] = ref.split('/');
            return isSerial(sn) && isSnapshotName(name) && q.snapshot(dev.account_id, sn, name) !== undefined;
          })();
    if (!ok) throw new AppError('not_found', w.t('notFound'));
    if (formString(req.body, 'action') === 'unpin') pins.unpin(dev.account_id, kind, ref);
    else await pins.pin(dev.account_id, kind, ref);
    // `back` ends up in the Location header: a page of this laptop, visible ASCII only (no CR/LF, no
    // control or non-ASCII characters, which would make the header invalid).
    const home = `/ui/j/${dev.serial}`;
    const back = formString(req.body, 'back', 500);
    return reply.redirect(back.startsWith(home) && /^[\x21-\x7e]+$/.test(back) ? back : home, 303);
  });
}
