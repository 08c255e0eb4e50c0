/**
 * admin-pages — what the administrator reads, as pure functions of rows:
 * the dashboard's laptop table (sorted by need, admin-data.ts byNeed), the
 * summary sentence of what needs doing, the cleanup runs as one sentence
 * each, and one laptop's facts and agent reports. Dates are relative
 * ("9 days ago") with the full date in a tooltip; every value is escaped.
 */
import type { AgentReport } from '../../catalog/web-dashboard.js';
import type { CleanupReport } from '../../retention/cleanup.js';
import type { ReplicaStatus } from '../../replica/status.js';
import { html, type SafeHtml } from './html.js';
import type { WebReq } from './kit.js';
import type { LaptopRow, LaptopStatus } from './admin-data.js';
import { cut, formatSize } from './layout.js';

export const statusCell = (w: WebReq, s: LaptopStatus) => html`<span class="st-${s}">${w.t(`st_${s}`)}</span>`;

const ago = (w: WebReq, ms: number | null) =>
  ms ? html`<span title="${w.dates.full(ms)}">${w.dates.ago(ms)}</span>` : html`${w.t('never')}`;

export function problemText(w: WebReq, r: AgentReport | null): string {
  if (!r) return '';
  const what = w.t(`outcome_${r.outcome}`, { reason: cut(r.reason, 200) });
  return r.count > 1 ? `${what} ${w.t('times', { count: r.count })}` : what;
}

export function needsSentence(w: WebReq, all: LaptopRow[]): SafeHtml {
  const n = (...s: LaptopStatus[]) => all.filter((l) => s.includes(l.status)).length;
  const need = n('stale', 'never', 'late', 'failing');
  if (!need) return html`<p class="msg ok">${w.t('allFine', { count: all.length - n('archived') })}</p>`;
  return html`<p class="msg err">
    ${w.t('needAttention', { count: need, stale: n('stale', 'never'), late: n('late'), failing: n('failing') })}
  </p>`;
}

export function laptopTable(w: WebReq, rows: LaptopRow[]): SafeHtml {
  if (!rows.length) return html`<p class="msg">${w.t('noLaptops')}</p>`;
  return html`<table id="laptops" class="cards plain">
    <tr class="head">
      <th>${w.t('laptopCol')}</th>
      <th class="c-st">${w.t('status')}</th>
      <th class="c-when">${w.t('lastGoodBackup')}</th>
      <th class="c-when">${w.t('lastContact')}</th>
      <th>${w.t('problem')}</th>
      <th class="num c-size">${w.t('storage')}</th>
    </tr>
    ${rows.map(
      (l) =>
        html`<tr data-serial="${l.serial}">
          <td>
            <a href="/ui/admin/laptops/${l.serial}"><span dir="auto">${cut(l.nickname, 60) || l.serial}</span></a
            ><br /><span class="small">${l.serial}</span>
          </td>
          <td>${statusCell(w, l.status)}</td>
          <td data-label="${w.t('lastGoodBackup')}">${ago(w, l.lastBackupAt)}</td>
          <td class="wide">${ago(w, l.lastContact)}</td>
          <td class="problem"><div class="clamp">${problemText(w, l.problem)}</div></td>
          <td class="num wide">${formatSize(l.storage)}</td>
        </tr>`,
    )}
  </table>`;
}

/** One sentence per cleanup run: when, backups removed, space freed, problems. */
export function cleanupSentences(w: WebReq, reports: CleanupReport[]): SafeHtml {
  if (!reports.length) return html`<p>${w.t('noCleanupReports')}</p>`;
  return html`<ul class="sentences">
    ${reports.map((r) => {
      const main = w.t(r.dryRun ? 'cleanupTrial' : 'cleanupRun', {
        when: w.dates.when(r.startedAt),
        removed: r.snapshots.removed,
        freed: formatSize(r.bytesFreed),
      });
      const problems = r.problems.length
        ? w.t('cleanupProblems', { count: r.problems.length, first: cut(r.problems[0], 200) })
        : w.t('cleanupNoProblems');
      return html`<li>${main} ${problems}</li>`;
    })}
  </ul>`;
}

export function reportList(w: WebReq, reports: AgentReport[]): SafeHtml {
  if (!reports.length) return html`<p>${w.t('noReports')}</p>`;
  return html`<ul class="sentences">
    ${reports.slice(0, 10).map((r) => html`<li><span title="${w.dates.full(r.at)}">${w.dates.when(r.at)}</span>: ${problemText(w, r)}</li>`)}
  </ul>`;
}

/** The off-site copy: up to date or how far behind (the oldest backup not yet in it), last copy, last failure. */
export function replicaSection(w: WebReq, r: ReplicaStatus | null, now: number): SafeHtml | string {
  if (!r) return '';
  const last = r.lastSuccessAt ? w.dates.when(Date.parse(r.lastSuccessAt)) : w.t('replicaNever');
  const failedLast = r.lastErrorAt && (!r.lastSuccessAt || r.lastErrorAt > r.lastSuccessAt);
  return html`<h2>${w.t('offsite')}</h2>
    <p id="replica" class="${r.pendingSnapshots ? 'msg err' : 'msg ok'}">
      ${
        r.pendingSnapshots
          ? w.t('replicaPending', {
              count: r.pendingSnapshots,
              replica: r.replica,
              ago: w.dates.ago(now - r.lagSec * 1000),
              when: last,
            })
          : w.t('replicaUpToDate', { replica: r.replica, when: last })
      }
    </p>
    ${
      failedLast
        ? html`<p class="msg err">
            ${w.t('replicaFailed', { when: w.dates.when(Date.parse(r.lastErrorAt!)), error: cut(r.lastError ?? '', 200) })}
          </p>`
        : ''
    }`;
}
