/**
 * html — HTML that is escaped by default.
 *
 * `html\`<p>${value}</p>\`` returns SafeHtml: every interpolated value is
 * escaped (& < > " ') unless it is already SafeHtml (a nested html`` or an
 * explicit raw()). Arrays are joined, null/undefined/false render nothing.
 * raw() is the only way to insert unescaped text; use it for constants only
 * (the inline CSS, SVG built from numbers). Attribute values must be quoted
 * in templates ("${v}"), which escaping makes safe.
 */
import { wellFormed } from '../../../protocol/names.js';

export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | HtmlValue[];

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

function render(v: HtmlValue): string {
  if (v instanceof SafeHtml) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** Inserts text without escaping. Only for constants and markup built from numbers. */
export function raw(text: string): SafeHtml {
  return new SafeHtml(text);
}

/** A query string from parts, dropping empty values (already URL-encoded). */
export function qs(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(wellFormed(k))}=${encodeURIComponent(wellFormed(String(v)))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
