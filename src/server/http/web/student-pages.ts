/**
 * student-pages — the Journal views as pure functions of catalog rows:
 * the document list (latest, or as in one backup), the backup dates, one
 * document's versions, one version's details. Routes fetch, these render.
 * Every value goes through html`` (escaped); URLs are built from checked
 * serials, uids, snapshot names and integer ids only.
 */
import type { EntryRow, SnapshotRow } from '../../catalog/catalog.js';
import { html, qs, type SafeHtml } from './html.js';
import type { Translate } from './i18n/index.js';
import { activityName, formatDate, formatSize } from './layout.js';
import type { Page } from '../../catalog/journal-query.js';

export interface ViewCtx {
  t: Translate;
  lang: string;
  serial: string;
  csrf: string;
  /** Current path + query, to come back after a pin form. */
  here: string;
}

const base = (v: ViewCtx) => `/ui/j/${encodeURIComponent(v.serial)}`;
export const versionUrl = (v: ViewCtx, id: number, what = '') => `${base(v)}/v/${id}${what}`;

export function pinForm(v: ViewCtx, kind: 'entry' | 'snapshot', ref: string, pinned: boolean): SafeHtml {
  return html`<form class="inline" method="post" action="${base(v)}/pin">
    <input type="hidden" name="_csrf" value="${v.csrf}" /><input type="hidden" name="kind" value="${kind}" /><input
      type="hidden"
      name="ref"
      value="${ref}"
    /><input type="hidden" name="back" value="${v.here}" /><input
      type="hidden"
      name="action"
      value="${pinned ? 'unpin' : 'pin'}"
    /><button class="light" type="submit" name="pinbtn">${pinned ? v.t('unpin') : v.t('pin_')}</button>
  </form>`;
}

function thumb(v: ViewCtx, e: EntryRow): SafeHtml {
  return e.preview_blob && e.preview_size > 0
    ? html`<img class="thumb" alt="" src="${versionUrl(v, e.id, '/preview.png')}" />`
    : html`<span class="thumb"></span>`;
}

export function titleOf(v: ViewCtx, e: EntryRow): string {
  return e.title.trim() || v.t('untitled');
}

function entryRow(v: ViewCtx, e: EntryRow, pinned: Set<string>, showDeleted: boolean): SafeHtml {
  const deleted = showDeleted && e.last_seq !== null ? html` <span class="small">(${v.t('deleted')})</span>` : '';
  const star = e.keep ? html`<span class="star" title="${v.t('starred')}">★</span>` : '';
  const get = e.data_blob
    ? html`<a class="button" href="${versionUrl(v, e.id, '/entry.xoj')}">${v.t('restoreToJournal')}</a>`
    : html`<span class="small">${v.t('noData')}</span>`;
  return html`<tr>
    <td>${thumb(v, e)}</td>
    <td>${star} <a class="entry-title" href="${base(v)}/e/${e.uid}">${titleOf(v, e)}</a>${deleted}</td>
    <td class="wide">${activityName(e.activity)}</td>
    <td class="wide">${formatDate(e.timestamp === null ? null : e.timestamp * 1000, v.lang)}</td>
    <td class="num wide">${e.data_blob ? formatSize(e.data_size) : '—'}</td>
    <td>${get} ${pinForm(v, 'entry', e.uid, pinned.has(e.uid))}</td>
  </tr>`;
}

function pager(v: ViewCtx, path: string, q: string, p: Page<EntryRow>): SafeHtml {
  if (p.pages <= 1) return html``;
  const prev =
    p.page > 1 ? html`<a class="button light" href="${path}${qs({ q, page: p.page - 1 })}">${v.t('previous')}</a>` : '';
  const next =
    p.page < p.pages
      ? html`<a class="button light" href="${path}${qs({ q, page: p.page + 1 })}">${v.t('next')}</a>`
      : '';
  return html`<p>${prev} ${v.t('pageOf', { page: p.page, pages: p.pages })} ${next}</p>`;
}

export function entryList(
  v: ViewCtx,
  path: string,
  q: string,
  p: Page<EntryRow>,
  pinned: Set<string>,
  showDeleted: boolean,
): SafeHtml {
  const search = html`<form method="get" action="${path}">
    <input type="search" name="q" value="${q}" placeholder="${v.t('searchTitle')}" aria-label="${v.t('searchTitle')}" />
    <button type="submit">${v.t('search')}</button>
  </form>`;
  const table = p.rows.length
    ? html`<table>
        <tr>
          <th></th>
          <th>${v.t('title')}</th>
          <th class="wide">${v.t('activity')}</th>
          <th class="wide">${v.t('date')}</th>
          <th class="num wide">${v.t('size')}</th>
          <th></th>
        </tr>
        ${p.rows.map((e) => entryRow(v, e, pinned, showDeleted))}
      </table>`
    : html`<p>${v.t('noEntries')}</p>`;
  return html`${search}
    <p class="small">${v.t('entries', { count: p.total })}</p>
    ${table}${pager(v, path, q, p)}`;
}

export function backupList(v: ViewCtx, snaps: SnapshotRow[], pinned: Set<string>): SafeHtml {
  if (!snaps.length) return html`<p>${v.t('noBackups')}</p>`;
  return html`<p class="small">${v.t('pinHelp')}</p>
    <table>
      <tr>
        <th>${v.t('date')}</th>
        <th class="num">${v.t('files')}</th>
        <th class="num wide">${v.t('size')}</th>
        <th></th>
      </tr>
      ${snaps.map(
        (s) =>
          html`<tr>
            <td>
              <a href="${base(v)}/b/${s.serial}/${s.name}">${formatDate(s.created_at, v.lang)}</a
              >${s.serial !== v.serial ? html` <span class="small">(${s.serial})</span>` : ''}
            </td>
            <td class="num">${s.files}</td>
            <td class="num wide">${formatSize(s.bytes)}</td>
            <td>${pinForm(v, 'snapshot', `${s.serial}/${s.name}`, pinned.has(`${s.serial}/${s.name}`))}</td>
          </tr>`,
      )}
    </table>`;
}

export function snapshotHeader(v: ViewCtx, s: SnapshotRow): SafeHtml {
  const at = `${base(v)}/b/${s.serial}/${s.name}`;
  return html`<p>
    <strong>${v.t('everythingFrom')}:</strong> <a class="button" href="${at}/all.zip">${v.t('downloadZip')}</a>
    <a class="button" href="${at}/all.xob">${v.t('downloadXob')}</a>
  </p>`;
}

function span(v: ViewCtx, e: EntryRow, bySeq: Map<number, SnapshotRow>): string {
  const from = formatDate(bySeq.get(e.first_seq)?.created_at, v.lang);
  if (e.last_seq === null) return v.t('inBackupsNow', { from });
  return v.t('inBackups', { from, to: formatDate(bySeq.get(e.last_seq)?.created_at, v.lang) });
}

export function getButtons(v: ViewCtx, e: EntryRow): SafeHtml {
  if (!e.data_blob) return html`<p class="msg">${v.t('noData')}</p>`;
  return html`<a class="button" href="${versionUrl(v, e.id, '/entry.xoj')}">${v.t('restoreToJournal')}</a>
    <a class="button light" href="${versionUrl(v, e.id, '/data')}">${v.t('downloadFile')}</a>`;
}

export function versionsView(v: ViewCtx, rows: EntryRow[], bySeq: Map<number, SnapshotRow>, pinned: boolean): SafeHtml {
  return html`<p>${pinForm(v, 'entry', rows[0].uid, pinned)} <span class="small">${v.t('pinHelp')}</span></p>
    <h2>${v.t('versions')}</h2>
    <table>
      ${rows.map(
        (e) =>
          html`<tr>
            <td>${thumb(v, e)}</td>
            <td>
              ${titleOf(v, e)}<br /><span class="small"
                >${formatDate(e.timestamp === null ? null : e.timestamp * 1000, v.lang)} · ${span(v, e, bySeq)}</span
              >
            </td>
            <td class="num wide">${e.data_blob ? formatSize(e.data_size) : '—'}</td>
            <td>${getButtons(v, e)} <a href="${versionUrl(v, e.id)}">${v.t('details')}</a></td>
          </tr>`,
      )}
    </table>`;
}

export function detailsView(v: ViewCtx, e: EntryRow, meta: Array<[string, string]>): SafeHtml {
  const preview =
    e.preview_blob && e.preview_size > 0
      ? html`<p><img alt="" src="${versionUrl(v, e.id, '/preview.png')}" style="max-width:300px;width:100%" /></p>`
      : '';
  return html`${preview}
    <p>${getButtons(v, e)}</p>
    <h2>${v.t('details')}</h2>
    <table>
      ${meta.map(
        ([k, val]) =>
          html`<tr>
            <th>${k}</th>
            <td>${val}</td>
          </tr>`,
      )}
    </table>`;
}
