/**
 * layout — the page shell every web page shares: plain HTML 4-era markup
 * that the XO's old Browse renders, a viewport line for phones, one small
 * inline style sheet, no JavaScript. Also the formatting helpers (dates,
 * sizes) so every page writes them the same way.
 */
import { html, raw, type SafeHtml } from './html.js';
import type { Translate } from './i18n/index.js';

const CSS = `
body{font-family:sans-serif;margin:0;color:#222;background:#f6f6f6;font-size:16px}
header{background:#333;color:#fff;padding:8px 12px}
header a{color:#fff;margin-right:12px}
header form{display:inline}
header .who{float:right}
main{padding:8px 12px;max-width:1000px}
h1{font-size:1.4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #ddd;vertical-align:middle}
td.num,th.num{text-align:right}
img.thumb,span.thumb{display:inline-block;width:80px;height:60px;border:1px solid #ccc;background:#eee}
.msg{padding:8px;background:#ffd;border:1px solid #cc9;margin:8px 0}
.err{background:#fdd;border-color:#c99}
.st-ok{color:#060}.st-late{color:#a60;font-weight:bold}.st-stale,.st-never{color:#b00;font-weight:bold}.st-disabled{color:#666}
.button,button{display:inline-block;padding:6px 10px;margin:2px;background:#1a5fb4;color:#fff;border:0;text-decoration:none;font-size:15px;cursor:pointer}
.button.light,button.light{background:#ddd;color:#222}
.danger{background:#b00}
.star{color:#c90}
.small{font-size:.85em;color:#555}
form.inline{display:inline;margin:0}
input[type=text],input[type=password],input[type=search]{padding:5px;font-size:16px;max-width:100%}
.charts svg{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
@media (max-width:600px){.wide{display:none}img.thumb,span.thumb{width:48px;height:36px}}
`;

export interface PageOptions {
  t: Translate;
  title: string;
  body: SafeHtml;
  nav?: SafeHtml;
  csrf?: string;
  signedIn?: boolean;
}

export function layout(o: PageOptions): SafeHtml {
  const signOut =
    o.signedIn && o.csrf
      ? html`<form class="who" method="post" action="/ui/logout">
          <input type="hidden" name="_csrf" value="${o.csrf}" /><button class="light" type="submit">
            ${o.t('signOut')}
          </button>
        </form>`
      : '';
  return html`<!DOCTYPE html>
    <html lang="${o.t('lang')}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} — ${o.t('appName')}</title>
        <style>
          ${raw(CSS)}
        </style>
      </head>
      <body>
        <header>${signOut}<strong>${o.t('appName')}</strong> ${o.nav ?? ''}</header>
        <main>
          <h1>${o.title}</h1>
          ${o.body}
        </main>
      </body>
    </html>`;
}

export function formatDate(ms: number | null | undefined, lang: string): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  void lang; // ISO-like dates read the same in every language
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function formatDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** A short activity name: org.laptop.Paint → Paint. */
export function activityName(bundleId: string): string {
  const last = bundleId.split('.').pop() ?? '';
  return last.replace(/Activity$/, '') || bundleId;
}
