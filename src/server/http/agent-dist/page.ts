/**
 * page — GET /agent/: how a laptop joins this school's backups, in the
 * page's language (Accept-Language, the web pages' catalogs). The install
 * line sits in a read-only text field, so it can be selected and copied
 * without JavaScript (the page has none); the server URL in it is the one
 * the routes validated, and every value is escaped by html``.
 */
import { html } from '../web/html.js';
import { pickLanguage, translator } from '../web/i18n/index.js';
import { layout } from '../web/layout.js';

export interface PageFacts {
  version: string | null;
  sha256: string | null;
  enrollRequired: boolean;
}

const field = (text: string) =>
  html`<p>
    <input type="text" readonly="readonly" size="70" style="width:100%;font-family:monospace" value="${text}" />
  </p>`;

export function agentPage(acceptLanguage: string | undefined, server: string, f: PageFacts): string {
  const t = translator(pickLanguage(acceptLanguage));
  const curl = `curl -fsSL ${server}/agent/install | sh`;
  const body = f.version
    ? html`<p>${t('agentIntro')}</p>
        ${field(curl)}
        <p>${t('agentWget')}</p>
        ${field(`wget -qO- ${server}/agent/install | sh`)}
        <p>${t('agentWhat')}</p>
        ${
          f.enrollRequired
            ? html`<p class="msg">${t('agentKey')}</p>
                ${field(`curl -fsSL ${server}/agent/install | DSB_ENROLL_KEY=… sh`)}`
            : ''
        }
        <p>${t('agentSerial')}</p>
        ${field(`curl -fsSL ${server}/agent/install | DSB_SERIAL=ABC1234 sh`)}
        <h2>${t('agentClassroomTitle')}</h2>
        <p>${t('agentClassroom')}</p>
        ${field(`for h in xo-01 xo-02 xo-03; do ssh "$h" '${curl}'; done`)}
        <h2>${t('agentOldTitle')}</h2>
        <p>${t('agentOld')}</p>
        <p class="small">${t('agentVersion', { version: f.version, sha256: f.sha256 ?? '' })}</p>`
    : html`<p class="msg err">${t('agentMissing')}</p>`;
  return layout({ t, title: t('agentTitle'), body }).text;
}
