/**
 * layout — the page shell every web page shares: plain HTML that the XO's
 * old Browse renders, a viewport line for phones, one small inline style
 * sheet, no JavaScript. Also the small formatting helpers (sizes, titles).
 *
 * The style sheet is what keeps pages from breaking: every table has
 * table-layout:fixed and width 100 %, text cells wrap anywhere (a title of
 * 300 letters without a space wraps instead of widening the page) and long
 * titles are cut after three lines; below 760 px wide, tables marked
 * `cards` become one card per row (their header row hidden, cells marked
 * `wide` hidden, action cells on a line of their own), so buttons never
 * leave the screen. Colours meet WCAG AA contrast on their backgrounds.
 */
import { html, raw, type SafeHtml } from './html.js';
import type { Translate } from './i18n/index.js';

const CSS = `
*{box-sizing:border-box}
body{font-family:"Noto Sans",sans-serif;margin:0;color:#1d1d1d;background:#f4f4f4;font-size:16px;line-height:1.4}
header{background:#2b2b2b;color:#fff;padding:6px 12px;display:flex;flex-wrap:wrap;align-items:center;gap:4px 14px}
header a{color:#fff;margin-right:14px}
header .app{font-weight:bold}
header form{margin:0 0 0 auto}
main{padding:8px 12px 24px;max-width:1100px;margin:0 auto}
h1{font-size:1.4em;overflow-wrap:anywhere;word-break:break-word}
h2{font-size:1.15em;margin-top:1.4em}
a{color:#0b4f9e}
table{border-collapse:collapse;width:100%;background:#fff;table-layout:fixed}
th,td{text-align:left;padding:6px;border-bottom:1px solid #ddd;vertical-align:middle;overflow-wrap:anywhere;word-break:break-word}
td.num,th.num{text-align:right}
.c-thumb{width:96px}.c-act{width:120px}.c-date{width:190px}.c-size{width:84px}.c-do{width:310px}.c-n{width:110px}
.c-st{width:130px}.c-when{width:150px}
img.thumb,span.thumb{display:inline-block;width:80px;height:60px;border:1px solid #ccc;background:#eee;vertical-align:middle}
.clamp{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
.msg{padding:8px;background:#fff8d6;border:1px solid #c9b458;margin:8px 0}
.err{background:#fde3e3;border-color:#c66}
.ok{background:#e3f4e3;border-color:#6a6}
.st-ok{color:#1e6b1e}.st-late{color:#8a4b00;font-weight:bold}.st-stale,.st-never,.st-failing{color:#a50000;font-weight:bold}
.st-disabled,.st-archived{color:#555}
.button,button{display:inline-block;padding:6px 10px;margin:2px 0;background:#1a5fb4;color:#fff;border:0;border-radius:3px;text-decoration:none;font-size:15px;line-height:1.3;cursor:pointer;font-family:inherit}
.button.light,button.light{background:#e2e2e2;color:#1d1d1d}
.danger,button.danger{background:#b00;color:#fff}
.star{color:#8a5a00}
.kept{color:#1e6b1e;font-weight:bold}
.small{font-size:.9em;color:#4a4a4a}
.help{font-size:.95em;color:#333;background:#eef4fb;border-left:4px solid #1a5fb4;padding:6px 10px;margin:8px 0}
form.inline{display:inline;margin:0}
form.filters{display:flex;flex-wrap:wrap;gap:6px;align-items:end;margin:8px 0}
form.filters label{display:flex;flex-direction:column;font-size:.9em}
input[type=text],input[type=password],input[type=search],select{padding:5px;font-size:16px;max-width:100%;font-family:inherit}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:4px 12px;background:#fff;padding:8px}
dl.facts dt{font-weight:bold}dl.facts dd{margin:0;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.charts figure{margin:0;max-width:100%}
.charts svg{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
ul.sentences{background:#fff;padding:8px 8px 8px 28px;overflow-wrap:anywhere}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.phone{display:none}
@media (max-width:760px){
main{padding:6px 8px 20px}
table.cards,table.cards tbody{display:block}
table.cards tr.head{display:none}
table.cards tr{display:grid;grid-template-columns:60px minmax(0,1fr);gap:2px 10px;padding:8px 4px;border-bottom:1px solid #ddd}
table.cards.plain tr{grid-template-columns:minmax(0,1fr)}
table.cards td{display:block;border:0;padding:0;min-width:0;text-align:left}
table.cards td.tc{grid-row:span 2}
table.cards td.wide{display:none}
table.cards td.do{grid-column:1/-1}
table.cards td[data-label]::before{content:attr(data-label) ": ";font-weight:bold}
img.thumb,span.thumb{width:56px;height:42px}
.phone{display:block}
form.filters label{flex:1 1 40%}
form.filters input,form.filters select{width:100%}
}
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
      ? html`<form method="post" action="/ui/logout">
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
        <header>
          <span class="app">${o.t('appName')}</span>
          <nav aria-label="${o.t('menu')}">${o.nav ?? ''}</nav>
          ${signOut}
        </header>
        <main>
          <h1 dir="auto">${o.title}</h1>
          ${o.body}
        </main>
      </body>
    </html>`;
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

/** A title cut to `max` characters (whole code points) with an ellipsis. */
export function cut(text: string, max = 160): string {
  const chars = Array.from(text);
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
}
