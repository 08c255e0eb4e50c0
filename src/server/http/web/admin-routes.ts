/**
 * admin-routes — the administrator's pages (admin session only):
 *
 *   GET  /ui/admin                            dashboard, sorted by what needs doing (?filter=late|stale|failing|archived)
 *   GET  /ui/admin/laptops/:serial            one laptop: facts, agent reports, actions, backups
 *   POST /ui/admin/laptops/:serial/enable     {enabled: 0|1}
 *   POST /ui/admin/laptops/:serial/archive    {archived: 0|1}: left the school (out of the late/stale counts)
 *   GET  /ui/admin/laptops/:serial/reset-code asks before resetting the restore code
 *   POST /ui/admin/laptops/:serial/restore-code  resets the restore code (…/pin: its old path)
 *   POST /ui/admin/laptops/:serial/replace    {newSerial}: replaced laptop
 *   GET  /ui/admin/laptops/:serial/delete     confirmation page (?wrong=1: the typed serial did not match)
 *   POST /ui/admin/laptops/:serial/delete     {confirm: serial}: delete the account's data
 *
 * Post/redirect/get: every POST answers 303 to a page that says what
 * happened (?done=…), so reloading it repeats nothing. The restore code
 * after a reset is read back from store.restoreCodes on that page, not carried in
 * the URL. The admin reads a laptop's Journal through /ui/j/:serial.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { canonicalSerial, isSerial } from '../../../protocol/names.js';
import type { DeviceRow } from '../../catalog/catalog.js';
import { accountSnapshots } from '../../catalog/snapshots.js';
import { DashboardCatalog } from '../../catalog/web-dashboard.js';
import { latestReports } from '../../retention/cleanup-job.js';
import { diskUsage } from '../../../platform/system.js';
import { accountSerials, deleteAccount } from './account-delete.js';
import { daily, laptops, type LaptopRow } from './admin-data.js';
import { cleanupSentences, laptopTable, needsSentence, replicaSection, reportList, statusCell } from './admin-pages.js';
import { replicaStatus } from '../../replica/status.js';
import { barChart } from './charts.js';
import { html, qs, type SafeHtml } from './html.js';
import { formatSize } from './layout.js';
import { formString, type WebKit, type WebReq } from './kit.js';
import { attachReplacement } from './replacement.js';

const FILTERS: Record<string, (l: LaptopRow) => boolean> = {
  late: (l) => l.status === 'late',
  stale: (l) => l.status === 'stale' || l.status === 'never',
  failing: (l) => l.status === 'failing',
  archived: (l) => l.status === 'archived',
};
const DONE = ['saved', 'archived', 'unarchived', 'codeReset', 'attached', 'approved'] as const;
type Done = (typeof DONE)[number];

export function adminRoutes(app: FastifyInstance, kit: WebKit): void {
  const { store, admission, config } = kit.ctx;
  const dash = new DashboardCatalog(store.db);
  const thresholds = { lateDays: config.lateDays ?? 3, staleDays: config.staleDays ?? 7 };
  const form = (w: WebReq, action: string, inner: SafeHtml, button: string, cls = '') =>
    html`<form class="inline" method="post" action="${action}">
      ${kit.csrfField(w)}${inner}<button class="${cls}" type="submit">${button}</button>
    </form>`;
  const snSchema = { type: 'string', maxLength: 400, pattern: '^[A-Za-z0-9,]*$' };

  app.get<{ Querystring: { filter?: string; done?: string; sn?: string } }>(
    '/admin',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            filter: { type: 'string', enum: ['', ...Object.keys(FILTERS)] },
            done: { type: 'string', enum: ['', 'deleted'] },
            sn: snSchema,
          },
        },
      },
    },
    async (req, reply) => {
      const w = kit.req(req);
      kit.requireSignedIn(w, 'admin');
      const now = Date.now();
      const all = laptops(store.db, now, thresholds, dash);
      const filter = req.query.filter ?? '';
      const shown = filter ? all.filter(FILTERS[filter]) : all.filter((l) => l.status !== 'archived');
      const disk = diskUsage(store.root);
      const days = daily(store.db, now);
      const running = admission.active();
      const count = (f: string) => all.filter(FILTERS[f]).length;
      const link = (f: string, label: string, n: number) =>
        html`<a href="/ui/admin${f ? `?filter=${f}` : ''}" ${f === filter ? html`aria-current="page"` : ''}
          >${label} (${n})</a
        >`;
      const deleted =
        req.query.done === 'deleted'
          ? html`<p class="msg ok">${w.t('deleteDone', { serials: (req.query.sn ?? '').split(',').join(', ') })}</p>`
          : '';
      const body = html`${deleted}${needsSentence(w, all)}
        <p>
          ${w.t('filter')}: ${link('', w.t('filterAll'), all.length - count('archived'))} ·
          ${link('stale', w.t('filterStale'), count('stale'))} · ${link('late', w.t('filterLate'), count('late'))} ·
          ${link('failing', w.t('filterFailing'), count('failing'))} ·
          ${link('archived', w.t('filterArchived'), count('archived'))}
        </p>
        ${laptopTable(w, shown)}
        <h2>${w.t('disk')}</h2>
        <p>
          ${w.t('diskUsed', { pct: disk.usedPct.toFixed(1), free: formatSize(disk.freeBytes), total: formatSize(disk.totalBytes), limit: config.diskLimitPct })}
        </p>
        ${replicaSection(w, replicaStatus(store.root, store.db, config.replica, now), now)}
        <h2>${w.t('runningNow')}</h2>
        ${
          running.length
            ? html`<ul>
                ${running.map((l) => html`<li>${l.serial} — ${w.t('since', { time: w.dates.when(l.grantedAt) })}</li>`)}
              </ul>`
            : html`<p>${w.t('noneRunning')}</p>`
        }
        <div class="charts">
          ${barChart(
            w.t('backupsPerDay'),
            w.t('chartMax'),
            days.map((d) => ({ x: w.dates.short(d.day + 43_200_000), y: d.backups })),
            String,
          )}
          ${barChart(
            w.t('storageOverTime'),
            w.t('chartMax'),
            days.map((d) => ({ x: w.dates.short(d.day + 43_200_000), y: d.bytes })),
            formatSize,
          )}
        </div>
        <h2>${w.t('cleanupReports')}</h2>
        ${cleanupSentences(w, latestReports(store, 5))}`;
      return kit.send(reply, w, w.t('dashboard'), body, kit.nav(w));
    },
  );

  const laptop = (w: WebReq, serial: string): DeviceRow => {
    kit.requireSignedIn(w, 'admin');
    const dev = isSerial(serial) ? store.registry.bySerial(serial) : undefined;
    if (!dev) throw new AppError('not_found', w.t('notFoundLaptop'));
    return dev;
  };

  const doneMessage = (w: WebReq, dev: DeviceRow, done: Done, sn: string): string => {
    if (done === 'codeReset')
      return w.t('newRestoreCode', { serial: dev.serial, code: store.restoreCodes.get(dev.serial) });
    if (done === 'attached') return w.t('attached', { serial: sn });
    if (done === 'approved') return w.t('approved', { serial: sn, old: dev.serial });
    return w.t(`done_${done}`);
  };

  type P = { Params: { serial: string }; Body: Record<string, unknown>; Querystring: { done?: Done; sn?: string } };
  app.get<P>(
    '/admin/laptops/:serial',
    {
      schema: {
        querystring: { type: 'object', properties: { done: { type: 'string', enum: [...DONE] }, sn: snSchema } },
      },
    },
    async (req, reply) => {
      const w = kit.req(req);
      const dev = laptop(w, req.params.serial);
      const row = laptops(store.db, Date.now(), thresholds, dash).find((l) => l.serial === dev.serial)!;
      const snaps = accountSnapshots(store.db, dev.account_id).reverse();
      const at = `/ui/admin/laptops/${dev.serial}`;
      const others = accountSerials(store, dev.account_id).filter((s) => s !== dev.serial);
      const done = req.query.done;
      const body = html`${done ? html`<p class="msg ok" role="status">${doneMessage(w, dev, done, req.query.sn ?? '')}</p>` : ''}
        <dl class="facts">
          <dt>${w.t('nickname')}</dt>
          <dd dir="auto">${dev.nickname || '—'}</dd>
          <dt>${w.t('status')}</dt>
          <dd>${statusCell(w, row.status)}</dd>
          <dt>${w.t('lastGoodBackup')}</dt>
          <dd>
            ${dev.last_backup_at ? `${w.dates.ago(dev.last_backup_at)} — ${w.dates.full(dev.last_backup_at)}` : w.t('never')}
          </dd>
          <dt>${w.t('lastContact')}</dt>
          <dd>${row.lastContact ? w.dates.ago(row.lastContact) : w.t('never')}</dd>
          ${
            others.length
              ? html`<dt>${w.t('otherLaptops')}</dt>
                  <dd>${others.join(', ')}</dd>`
              : ''
          }
        </dl>
        ${dev.disabled ? html`<p class="msg err">${w.t('disabledNote')}</p>` : ''}
        ${row.archived ? html`<p class="msg">${w.t('archivedNote')}</p>` : ''}
        <p><a class="button" href="/ui/j/${dev.serial}">${w.t('openJournal')}</a></p>
        <p>
          ${form(w, `${at}/enable`, html`<input type="hidden" name="enabled" value="${dev.disabled ? '1' : '0'}" />`, dev.disabled ? w.t('enable') : w.t('disable'), 'light')}
          ${form(w, `${at}/archive`, html`<input type="hidden" name="archived" value="${row.archived ? '0' : '1'}" />`, row.archived ? w.t('unarchive') : w.t('archive'), 'light')}
          <a class="button light" href="${at}/reset-code">${w.t('resetRestoreCode')}</a>
          <a class="button danger" href="${at}/delete">${w.t('deleteData')}</a>
        </p>
        <h2>${w.t('agentReports')}</h2>
        ${reportList(w, dash.reports(dev.serial))}
        <h2>${w.t('replacedLaptop')}</h2>
        <p class="small">${w.t('replacedHelp')}</p>
        ${form(w, `${at}/replace`, html`<label>${w.t('newSerial')} <input type="text" name="newSerial" /></label> `, w.t('attach'))}
        <h2>${w.t('snapshots')}</h2>
        <table class="cards plain">
          <tr class="head">
            <th>${w.t('date')}</th>
            <th class="c-when">${w.t('laptopCol')}</th>
            <th class="c-n">${w.t('kindOfBackup')}</th>
            <th class="num c-size">${w.t('size')}</th>
          </tr>
          ${snaps.map(
            (s) =>
              html`<tr>
                <td title="${s.name}">
                  ${s.source === 'datastore' ? html`<a href="/ui/j/${dev.serial}/b/${s.serial}/${s.name}">${w.dates.when(s.created_at)}</a>` : w.dates.when(s.created_at)}
                </td>
                <td class="small">${s.serial}</td>
                <td>
                  ${s.source === 'datastore' ? w.t('journal') : s.source === 'documents' ? w.t('documentsFolder') : s.source}
                </td>
                <td class="num">${formatSize(s.bytes)}</td>
              </tr>`,
          )}
        </table>`;
      return kit.send(reply, w, w.t('laptop', { serial: dev.serial }), body, kit.nav(w));
    },
  );

  const back = (serial: string, done: Done, sn?: string) => `/ui/admin/laptops/${serial}${qs({ done, sn })}`;

  app.post<P>('/admin/laptops/:serial/enable', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    const updated = store.registry.update(dev.serial, { disabled: formString(req.body, 'enabled') !== '1' });
    req.log.info({ serial: dev.serial, disabled: updated.disabled }, 'admin: laptop enabled/disabled');
    return reply.redirect(back(dev.serial, 'saved'), 303);
  });

  app.post<P>('/admin/laptops/:serial/archive', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    const on = formString(req.body, 'archived') === '1';
    dash.setArchived(dev.serial, on);
    req.log.info({ serial: dev.serial, archived: on }, 'admin: laptop archived/unarchived');
    return reply.redirect(back(dev.serial, on ? 'archived' : 'unarchived'), 303);
  });

  app.get<P>('/admin/laptops/:serial/reset-code', async (req, reply) => {
    const w = kit.req(req);
    const dev = laptop(w, req.params.serial);
    const at = `/ui/admin/laptops/${dev.serial}`;
    const body = html`<p class="msg">${w.t('resetRestoreCodeConfirm', { serial: dev.serial })}</p>
      ${form(w, `${at}/restore-code`, html``, w.t('resetRestoreCode'), 'danger')}
      <a class="button light" href="${at}">${w.t('cancel')}</a>`;
    return kit.send(reply, w, w.t('resetRestoreCode'), body, kit.nav(w));
  });

  const resetRestoreCode = async (req: FastifyRequest<P>, reply: FastifyReply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    store.restoreCodes.reset(dev.serial);
    req.log.info({ serial: dev.serial }, 'admin: restore code reset');
    return reply.redirect(back(dev.serial, 'codeReset'), 303);
  };
  app.post<P>('/admin/laptops/:serial/restore-code', resetRestoreCode);
  app.post<P>('/admin/laptops/:serial/pin', resetRestoreCode); // its path before the rename

  app.post<P>('/admin/laptops/:serial/replace', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    const typed = formString(req.body, 'newSerial', 64).replace(/\s+/g, '');
    const r = attachReplacement(kit.ctx, dev.serial, typed);
    const newSerial = canonicalSerial(typed) ?? typed;
    req.log.info({ serial: dev.serial, newSerial, r }, 'admin: replaced laptop');
    return reply.redirect(back(dev.serial, 'attached' in r ? 'attached' : 'approved', newSerial), 303);
  });

  app.get<P & { Querystring: { wrong?: string } }>('/admin/laptops/:serial/delete', async (req, reply) => {
    const w = kit.req(req);
    const dev = laptop(w, req.params.serial);
    const serials = accountSerials(store, dev.account_id);
    const body = html`${req.query.wrong ? html`<p class="msg err" role="alert">${w.t('wrongSerial', { serial: dev.serial })}</p>` : ''}
      <p class="msg err">
        ${w.t('deleteConfirm', { serial: dev.serial, account: dev.account_id, serials: serials.join(', ') })}
      </p>
      <form method="post" action="/ui/admin/laptops/${dev.serial}/delete">
        ${kit.csrfField(w)}<label>${w.t('serial')} <input type="text" name="confirm" autocomplete="off" /></label>
        <button class="danger" type="submit">${w.t('confirm')}</button>
        <a class="button light" href="/ui/admin/laptops/${dev.serial}">${w.t('cancel')}</a>
      </form>`;
    return kit.send(reply, w, w.t('deleteData'), body, kit.nav(w));
  });

  app.post<P>('/admin/laptops/:serial/delete', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    if (canonicalSerial(formString(req.body, 'confirm', 64).replace(/\s+/g, '')) !== dev.serial)
      return reply.redirect(`/ui/admin/laptops/${dev.serial}/delete?wrong=1`, 303);
    const serials = await deleteAccount(store, dev.account_id);
    for (const sn of serials) dash.forget(sn);
    req.log.warn({ serials }, 'admin: account data deleted');
    return reply.redirect(`/ui/admin${qs({ done: 'deleted', sn: serials.join(',') })}`, 303);
  });
}
