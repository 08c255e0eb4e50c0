/**
 * student-pages — the Journal views as pure functions of catalog rows:
 * the document list (latest, or as in one backup), the backup dates, one
 * document's versions, one version's details. Routes fetch, these render.
 * Every value goes through html`` (escaped); URLs are built from checked
 * serials, uids, snapshot names and integer ids only.
 *
 * Words a child knows: "Keep forever" (a pin), documents (not files), dates
 * as "Yesterday 14:05". Every repeated control carries the document's
 * title in its accessible name ("Restore to Journal: My drawing"); titles
 * are cut at 160 characters and wrap anywhere (layout.ts), marked dir=auto
 * so right-to-left titles read right.
 */
import type { EntryRow, SnapshotRow } from '../../catalog/catalog.js';
import type { DateFmt } from './dates.js';
import { html, qs, type SafeHtml } from './html.js';
import type { Translate } from './i18n/index.js';
import { KIND_NAMES, WHEN_NAMES } from './kinds.js';
import { activityName, cut, formatSize } from './layout.js';
import type { Page } from '../../catalog/journal-query.js';

export interface ViewCtx {
  t: Translate;
  lang: string;
  dates: DateFmt;
  serial: string;
  csrf: string;
  /** Current path + query, to come back after a keep-forever form. */
  here: string;
  admin: boolean;
}

export interface ListFilter {
  q: string;
  kind: string;
  when: string;
}

const base = (v: ViewCtx) => `/ui/j/${encodeURIComponent(v.serial)}`;
export const versionUrl = (v: ViewCtx, id: number, what = '') => `${base(v)}/v/${id}${what}`;
const ms = (e: EntryRow) => (e.timestamp === null ? null : e.timestamp * 1000);

export function titleOf(v: ViewCtx, e: EntryRow): string {
  return cut(e.title.trim()) || v.t('untitled');
}

export function keepForm(v: ViewCtx, kind: 'entry' | 'snapshot', ref: string, pinned: boolean, name: string) {
  const label = pinned ? v.t('stopKeeping') : v.t('keepForever');
  return html`${pinned ? html`<span class="kept">${v.t('keptForever')}</span> ` : ''}
    <form class="inline" method="post" action="${base(v)}/pin">
      <input type="hidden" name="_csrf" value="${v.csrf}" /><input type="hidden" name="kind" value="${kind}" /><input
        type="hidden"
        name="ref"
        value="${ref}"
      /><input type="hidden" name="back" value="${v.here}" /><input
        type="hidden"
        name="action"
        value="${pinned ? 'unpin' : 'pin'}"
      /><button class="light" type="submit" name="pinbtn" aria-label="${label}: ${name}">${label}</button>
    </form>`;
}

function thumb(v: ViewCtx, e: EntryRow): SafeHtml {
  return e.preview_blob && e.preview_size > 0
    ? html`<img class="thumb" alt="" src="${versionUrl(v, e.id, '/preview.png')}" />`
    : html`<span class="thumb"></span>`;
}

function restoreButton(v: ViewCtx, e: EntryRow, name: string): SafeHtml {
  return html`<a
    class="button"
    href="${versionUrl(v, e.id, '/entry.xoj')}"
    aria-label="${v.t('restoreToJournal')}: ${name}"
    >${v.t('restoreToJournal')}</a
  >`;
}

function entryRow(v: ViewCtx, e: EntryRow, pinned: Set<string>, showDeleted: boolean): SafeHtml {
  const name = titleOf(v, e);
  const deleted = showDeleted && e.last_seq !== null ? html` <span class="small">(${v.t('deleted')})</span>` : '';
  const star = e.keep
    ? html`<span class="star" title="${v.t('starred')}" aria-hidden="true">★</span
        ><span class="vh">${v.t('starred')}</span> `
    : '';
  const when = v.dates.when(ms(e));
  const get = e.data_blob ? restoreButton(v, e, name) : html`<span class="small">${v.t('noDataShort')}</span>`;
  return html`<tr>
    <td class="tc">${thumb(v, e)}</td>
    <td>
      <div class="clamp">
        ${star}<a class="entry-title" dir="auto" href="${base(v)}/e/${e.uid}">${name}</a>${deleted}
      </div>
      <span class="small phone">${when}</span>
    </td>
    <td class="wide">${activityName(e.activity)}</td>
    <td class="wide" title="${v.dates.full(ms(e))}">${when}</td>
    <td class="num wide">${e.data_blob ? formatSize(e.data_size) : '—'}</td>
    <td class="do">${get} ${keepForm(v, 'entry', e.uid, pinned.has(e.uid), name)}</td>
  </tr>`;
}

function pager(v: ViewCtx, path: string, f: ListFilter, p: Page<EntryRow>): SafeHtml {
  if (p.pages <= 1) return html``;
  const link = (page: number, label: string) =>
    html`<a class="button light" href="${path}${qs({ q: f.q, kind: f.kind, when: f.when, page })}">${label}</a>`;
  return html`<p>
    ${p.page > 1 ? link(p.page - 1, v.t('previous')) : ''} ${v.t('pageOf', { page: p.page, pages: p.pages })}
    ${p.page < p.pages ? link(p.page + 1, v.t('next')) : ''}
  </p>`;
}

function filterForm(v: ViewCtx, path: string, f: ListFilter): SafeHtml {
  const opt = (value: string, label: string, current: string) =>
    html`<option value="${value}" ${value === current ? html`selected` : ''}>${label}</option>`;
  return html`<form class="filters" method="get" action="${path}" role="search">
    <label>${v.t('searchTitle')}<input type="search" name="q" value="${f.q}" /> </label>
    <label
      >${v.t('kindLabel')}<select name="kind">
        ${opt('', v.t('kind_all'), f.kind)}${KIND_NAMES.map((k) => opt(k, v.t(`kind_${k}`), f.kind))}
      </select>
    </label>
    <label
      >${v.t('whenLabel')}<select name="when">
        ${opt('', v.t('when_all'), f.when)}${WHEN_NAMES.map((k) => opt(k, v.t(`when_${k}`), f.when))}
      </select>
    </label>
    <button type="submit">${v.t('search')}</button>
  </form>`;
}

export function entryList(
  v: ViewCtx,
  path: string,
  f: ListFilter,
  p: Page<EntryRow>,
  pinned: Set<string>,
  showDeleted: boolean,
): SafeHtml {
  const table = p.rows.length
    ? html`<table class="cards">
        <tr class="head">
          <th class="c-thumb"><span class="vh">${v.t('picture')}</span></th>
          <th>${v.t('title')}</th>
          <th class="c-act">${v.t('activity')}</th>
          <th class="c-date">${v.t('date')}</th>
          <th class="num c-size">${v.t('size')}</th>
          <th class="c-do"><span class="vh">${v.t('actions')}</span></th>
        </tr>
        ${p.rows.map((e) => entryRow(v, e, pinned, showDeleted))}
      </table>`
    : html`<p class="msg">${f.q || f.kind || f.when ? v.t('noMatches') : v.t('noEntries')}</p>`;
  return html`${filterForm(v, path, f)}
    <p class="small">${v.t('entries', { count: p.total })}</p>
    <p class="help">${v.t('restoreHelp')}</p>
    ${table}${pager(v, path, f, p)}`;
}

export function backupList(v: ViewCtx, snaps: SnapshotRow[], docs: Map<number, number>, pinned: Set<string>): SafeHtml {
  if (!snaps.length) return html`<p class="msg">${v.t('noBackupsYet')}</p>`;
  return html`<p class="help">${v.t('keepHelp')}</p>
    <table class="cards plain">
      <tr class="head">
        <th>${v.t('date')}</th>
        <th class="num c-n">${v.t('documents')}</th>
        <th class="num c-size">${v.t('size')}</th>
        <th class="c-do"><span class="vh">${v.t('actions')}</span></th>
      </tr>
      ${snaps.map((s) => {
        const when = v.dates.when(s.created_at);
        const ref = `${s.serial}/${s.name}`;
        return html`<tr>
          <td>
            <a href="${base(v)}/b/${s.serial}/${s.name}" title="${v.dates.full(s.created_at)}">${when}</a
            >${s.serial !== v.serial ? html` <span class="small">(${v.t('fromLaptop', { serial: s.serial })})</span>` : ''}
          </td>
          <td class="num" data-label="${v.t('documents')}">${docs.get(s.seq) ?? 0}</td>
          <td class="num wide">${formatSize(s.bytes)}</td>
          <td class="do">${keepForm(v, 'snapshot', ref, pinned.has(ref), when)}</td>
        </tr>`;
      })}
    </table>`;
}

export function snapshotHeader(v: ViewCtx, s: SnapshotRow): SafeHtml {
  const at = `${base(v)}/b/${s.serial}/${s.name}`;
  return html`<p>
    <strong>${v.t('everythingFrom')}:</strong> <a class="button" href="${at}/all.zip">${v.t('downloadZip')}</a>
    <a class="button light" href="${at}/all.xob">${v.t('downloadXob')}</a>
  </p>`;
}

function savedIn(v: ViewCtx, e: EntryRow, bySeq: Map<number, SnapshotRow>): string {
  const from = v.dates.when(bySeq.get(e.first_seq)?.created_at);
  if (e.last_seq === null) return v.t('inBackupsNow', { from });
  return v.t('inBackups', { from, to: v.dates.when(bySeq.get(e.last_seq)?.created_at) });
}

export function getButtons(v: ViewCtx, e: EntryRow, name: string): SafeHtml {
  if (!e.data_blob) return html`<p class="msg">${v.t('noData')}</p>`;
  return html`${restoreButton(v, e, name)}
    <a class="button light" href="${versionUrl(v, e.id, '/data')}" aria-label="${v.t('downloadFile')}: ${name}"
      >${v.t('downloadFile')}</a
    >`;
}

export function versionsView(v: ViewCtx, rows: EntryRow[], bySeq: Map<number, SnapshotRow>, pinned: boolean): SafeHtml {
  const name = titleOf(v, rows[0]);
  return html`<p>${keepForm(v, 'entry', rows[0].uid, pinned, name)}</p>
    <p class="help">${v.t('restoreHelp')} ${v.t('keepHelpOne')}</p>
    <h2>${v.t('versions')}</h2>
    <table class="cards">
      <tr class="head">
        <th class="c-thumb"><span class="vh">${v.t('picture')}</span></th>
        <th>${v.t('version')}</th>
        <th class="num c-size">${v.t('size')}</th>
        <th class="c-do"><span class="vh">${v.t('actions')}</span></th>
      </tr>
      ${rows.map((e) => {
        const saved = v.t('savedOn', { when: v.dates.when(ms(e)) });
        return html`<tr>
          <td class="tc">${thumb(v, e)}</td>
          <td>
            <div class="clamp" dir="auto">${titleOf(v, e)}</div>
            <strong title="${v.dates.full(ms(e))}">${saved}</strong><br /><span class="small"
              >${savedIn(v, e, bySeq)}</span
            >
          </td>
          <td class="num wide">${e.data_blob ? formatSize(e.data_size) : '—'}</td>
          <td class="do">
            ${getButtons(v, e, `${name} (${saved})`)}
            <a href="${versionUrl(v, e.id)}" aria-label="${v.t('details')}: ${name} (${saved})">${v.t('details')}</a>
          </td>
        </tr>`;
      })}
    </table>`;
}

/** What a child wants to know about one version; the raw metadata is shown to the admin only. */
export function detailsView(v: ViewCtx, e: EntryRow, meta: Array<[string, string]>): SafeHtml {
  const name = titleOf(v, e);
  const m = new Map(meta);
  const preview =
    e.preview_blob && e.preview_size > 0
      ? html`<p>
          <img
            alt="${v.t('pictureOf', { title: name })}"
            src="${versionUrl(v, e.id, '/preview.png')}"
            style="max-width:300px;width:100%"
          />
        </p>`
      : '';
  const fact = (label: string, value: string | undefined) =>
    value
      ? html`<dt>${label}</dt>
          <dd dir="auto">${value}</dd>`
      : '';
  const tags = (m.get('tags') ?? '').trim();
  const raw = v.admin
    ? html`<h2>${v.t('allMetadata')}</h2>
        <dl class="facts">
          ${meta.map(
            ([k, val]) =>
              html`<dt>${k}</dt>
                <dd>${val}</dd>`,
          )}
        </dl>`
    : '';
  return html`${preview}
    <p>${getButtons(v, e, name)}</p>
    <p class="help">${v.t('restoreHelp')}</p>
    <h2>${v.t('details')}</h2>
    <dl class="facts">
      ${fact(v.t('activity'), activityName(e.activity))} ${fact(v.t('savedLabel'), v.dates.when(ms(e)))}
      ${fact(v.t('size'), e.data_blob ? formatSize(e.data_size) : undefined)}
      ${fact(v.t('description'), (m.get('description') ?? '').trim() || undefined)}
      ${fact(v.t('tags'), tags || undefined)} ${fact(v.t('starred'), e.keep ? v.t('yes') : undefined)}
    </dl>
    ${raw}`;
}
