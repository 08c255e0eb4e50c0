/**
 * admin-routes — the administrator's pages (admin session only):
 *
 *   GET  /ui/admin                          dashboard (?filter=late|stale)
 *   GET  /ui/admin/laptops/:serial          one laptop: snapshots, actions
 *   POST /ui/admin/laptops/:serial/enable   {enabled: 0|1}
 *   POST /ui/admin/laptops/:serial/restore-code  reset the restore code (shown once here;
 *                                           …/pin: its old path)
 *   POST /ui/admin/laptops/:serial/replace  {newSerial}: replaced laptop
 *   GET  /ui/admin/laptops/:serial/delete   confirmation page
 *   POST /ui/admin/laptops/:serial/delete   {confirm: serial}: delete the account's data
 * The admin reads a laptop's Journal through the student pages (/ui/j/:serial).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { isSerial } from '../../../protocol/names.js';
import type { DeviceRow } from '../../catalog/catalog.js';
import { accountSnapshots } from '../../catalog/snapshots.js';
import { diskUsage } from '../../../platform/system.js';
import { accountSerials, deleteAccount } from './account-delete.js';
import { cleanupReports, daily, laptops, laptopStatus, type LaptopRow } from './admin-data.js';
import { barChart } from './charts.js';
import { html, type SafeHtml } from './html.js';
import { formatDate, formatDay, formatSize } from './layout.js';
import { formString, type WebKit, type WebReq } from './kit.js';
import { attachReplacement } from './replacement.js';

export function adminRoutes(app: FastifyInstance, kit: WebKit): void {
  const { store, admission, config } = kit.ctx;
  const thresholds = { lateDays: config.lateDays ?? 3, staleDays: config.staleDays ?? 7 };
  const statusCell = (w: WebReq, s: LaptopRow['status']) => html`<span class="st-${s}">${w.t(`st_${s}`)}</span>`;
  const form = (w: WebReq, action: string, inner: SafeHtml, button: string, cls = '') =>
    html`<form class="inline" method="post" action="${action}">
      ${kit.csrfField(w)}${inner}<button class="${cls}" type="submit">${button}</button>
    </form>`;

  app.get<{ Querystring: { filter?: string } }>(
    '/admin',
    {
      schema: {
        querystring: { type: 'object', properties: { filter: { type: 'string', enum: ['', 'late', 'stale'] } } },
      },
    },
    async (req, reply) => {
      const w = kit.req(req);
      kit.requireSignedIn(w, 'admin');
      const now = Date.now();
      const all = laptops(store.db, now, thresholds);
      const filter = req.query.filter ?? '';
      const shown = all.filter((l) =>
        filter === 'late'
          ? l.status === 'late'
          : filter === 'stale'
            ? l.status === 'stale' || l.status === 'never'
            : true,
      );
      const disk = diskUsage(store.root);
      const days = daily(store.db, now);
      const running = admission.active();
      const reports = cleanupReports(store.db);
      const count = (s: string) => all.filter((l) => l.status === s).length;
      const body = html`<p>
          ${w.t('filter')}: <a href="/ui/admin">${w.t('filterAll')} (${all.length})</a> ·
          <a href="/ui/admin?filter=late">${w.t('filterLate')} (${count('late')})</a> ·
          <a href="/ui/admin?filter=stale">${w.t('filterStale')} (${count('stale') + count('never')})</a>
        </p>
        <table id="laptops">
          <tr>
            <th>${w.t('serial')}</th>
            <th>${w.t('nickname')}</th>
            <th>${w.t('lastBackup')}</th>
            <th>${w.t('status')}</th>
            <th class="num">${w.t('snapshots')}</th>
            <th class="num wide">${w.t('storage')}</th>
          </tr>
          ${shown.map(
            (l) =>
              html`<tr data-serial="${l.serial}">
                <td><a href="/ui/admin/laptops/${l.serial}">${l.serial}</a></td>
                <td>${l.nickname}</td>
                <td>${l.lastBackupAt ? formatDate(l.lastBackupAt, w.lang) : w.t('never')}</td>
                <td>${statusCell(w, l.status)}</td>
                <td class="num">${l.snapshots}</td>
                <td class="num wide">${formatSize(l.storage)}</td>
              </tr>`,
          )}
        </table>
        <h2>${w.t('disk')}</h2>
        <p>
          ${w.t('diskUsed', { pct: disk.usedPct.toFixed(1), free: formatSize(disk.freeBytes), total: formatSize(disk.totalBytes), limit: config.diskLimitPct })}
        </p>
        <h2>${w.t('runningNow')}</h2>
        ${
          running.length
            ? html`<ul>
                ${running.map((l) => html`<li>${l.serial} — ${w.t('since', { time: formatDate(l.grantedAt, w.lang) })}</li>`)}
              </ul>`
            : html`<p>${w.t('noneRunning')}</p>`
        }
        <div class="charts">
          ${barChart(
            w.t('backupsPerDay'),
            w.t('chartMax'),
            days.map((d) => ({ x: formatDay(d.day), y: d.backups })),
            String,
          )}
          ${barChart(
            w.t('storageOverTime'),
            w.t('chartMax'),
            days.map((d) => ({ x: formatDay(d.day), y: d.bytes })),
            formatSize,
          )}
        </div>
        <h2>${w.t('cleanupReports')}</h2>
        ${reports.length ? reportTable(reports) : html`<p>${w.t('noCleanupReports')}</p>`}`;
      return kit.send(reply, w, w.t('dashboard'), body, kit.nav(w));
    },
  );

  const laptop = (w: WebReq, serial: string): DeviceRow => {
    kit.requireSignedIn(w, 'admin');
    const dev = isSerial(serial) ? store.registry.bySerial(serial) : undefined;
    if (!dev) throw new AppError('not_found', w.t('notFound'));
    return dev;
  };

  const laptopPage = (reply: FastifyReply, w: WebReq, dev: DeviceRow, msg?: string) => {
    const snaps = accountSnapshots(store.db, dev.account_id).reverse();
    const st = laptopStatus(dev.last_backup_at, dev.disabled === 1, Date.now(), thresholds).status;
    const at = `/ui/admin/laptops/${dev.serial}`;
    const others = accountSerials(store, dev.account_id).filter((s) => s !== dev.serial);
    const body = html`${msg ? html`<p class="msg">${msg}</p>` : ''}
      <p>
        ${dev.nickname} · ${w.t('status')}: ${statusCell(w, st)} · ${w.t('lastBackup')}:
        ${dev.last_backup_at ? formatDate(dev.last_backup_at, w.lang) : w.t('never')}${others.length ? html` · ${others.join(', ')}` : ''}
      </p>
      ${dev.disabled ? html`<p class="msg err">${w.t('disabledNote')}</p>` : ''}
      <p><a class="button" href="/ui/j/${dev.serial}">${w.t('openJournal')}</a></p>
      <p>
        ${form(w, `${at}/enable`, html`<input type="hidden" name="enabled" value="${dev.disabled ? '1' : '0'}" />`, dev.disabled ? w.t('enable') : w.t('disable'), 'light')}
        ${form(w, `${at}/restore-code`, html``, w.t('resetRestoreCode'), 'light')}
        <a class="button danger" href="${at}/delete">${w.t('deleteData')}</a>
      </p>
      <h2>${w.t('replacedLaptop')}</h2>
      <p class="small">${w.t('replacedHelp')}</p>
      ${form(w, `${at}/replace`, html`<label>${w.t('newSerial')} <input type="text" name="newSerial" /></label> `, w.t('attach'))}
      <h2>${w.t('snapshots')}</h2>
      <table>
        <tr>
          <th>${w.t('date')}</th>
          <th></th>
          <th class="num">${w.t('files')}</th>
          <th class="num">${w.t('size')}</th>
        </tr>
        ${snaps.map(
          (s) =>
            html`<tr>
              <td>
                ${s.source === 'datastore' ? html`<a href="/ui/j/${dev.serial}/b/${s.serial}/${s.name}">${s.name}</a>` : s.name}
              </td>
              <td class="small">${s.serial}</td>
              <td class="num">${s.files}</td>
              <td class="num">${formatSize(s.bytes)}</td>
            </tr>`,
        )}
      </table>`;
    return kit.send(reply, w, w.t('laptop', { serial: dev.serial }), body, kit.nav(w));
  };

  type P = { Params: { serial: string }; Body: Record<string, unknown> };
  app.get<P>('/admin/laptops/:serial', async (req, reply) => {
    const w = kit.req(req);
    return laptopPage(reply, w, laptop(w, req.params.serial));
  });

  app.post<P>('/admin/laptops/:serial/enable', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    const updated = store.registry.update(dev.serial, { disabled: formString(req.body, 'enabled') !== '1' });
    req.log.info({ serial: dev.serial, disabled: updated.disabled }, 'admin: laptop enabled/disabled');
    return laptopPage(reply, w, updated, w.t('saved'));
  });

  const resetRestoreCode = async (req: FastifyRequest<P>, reply: FastifyReply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    const code = store.restoreCodes.reset(dev.serial);
    req.log.info({ serial: dev.serial }, 'admin: restore code reset');
    return laptopPage(reply, w, dev, w.t('newRestoreCode', { serial: dev.serial, code }));
  };
  app.post<P>('/admin/laptops/:serial/restore-code', resetRestoreCode);
  app.post<P>('/admin/laptops/:serial/pin', resetRestoreCode); // its path before the rename

  app.post<P>('/admin/laptops/:serial/replace', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    const newSerial = formString(req.body, 'newSerial', 64).trim().toUpperCase();
    const r = attachReplacement(kit.ctx, dev.serial, newSerial);
    req.log.info({ serial: dev.serial, newSerial, r }, 'admin: replaced laptop');
    return laptopPage(
      reply,
      w,
      store.registry.bySerial(dev.serial)!,
      'attached' in r
        ? w.t('attached', { serial: newSerial })
        : w.t('approved', { serial: newSerial, old: dev.serial }),
    );
  });

  app.get<P>('/admin/laptops/:serial/delete', async (req, reply) => {
    const w = kit.req(req);
    const dev = laptop(w, req.params.serial);
    const serials = accountSerials(store, dev.account_id);
    const body = html`<p class="msg err">
        ${w.t('deleteConfirm', { serial: dev.serial, account: dev.account_id, serials: serials.join(', ') })}
      </p>
      <form method="post" action="/ui/admin/laptops/${dev.serial}/delete">
        ${kit.csrfField(w)}<input type="text" name="confirm" autocomplete="off" />
        <button class="danger" type="submit">${w.t('confirm')}</button>
        <a class="button light" href="/ui/admin/laptops/${dev.serial}">${w.t('cancel')}</a>
      </form>`;
    return kit.send(reply, w, w.t('deleteData'), body, kit.nav(w));
  });

  app.post<P>('/admin/laptops/:serial/delete', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = laptop(w, req.params.serial);
    if (formString(req.body, 'confirm', 64).trim().toUpperCase() !== dev.serial)
      return reply.redirect(`/ui/admin/laptops/${dev.serial}/delete`, 303);
    const serials = await deleteAccount(store, dev.account_id);
    req.log.warn({ serials }, 'admin: account data deleted');
    return kit.send(
      reply,
      w,
      w.t('deleteData'),
      html`<p class="msg">${w.t('deleteDone', { serials: serials.join(', ') })}</p>
        <p><a href="/ui/admin">${w.t('dashboard')}</a></p>`,
      kit.nav(w),
    );
  });
}

function reportTable(rows: Array<Record<string, unknown>>): SafeHtml {
  const cols = Object.keys(rows[0]);
  return html`<table>
    <tr>
      ${cols.map((c) => html`<th>${c}</th>`)}
    </tr>
    ${rows.map(
      (r) =>
        html`<tr>
          ${cols.map((c) => html`<td>${String(r[c] ?? '').slice(0, 300)}</td>`)}
        </tr>`,
    )}
  </table>`;
}
