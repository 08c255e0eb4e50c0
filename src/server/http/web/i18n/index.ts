/**
 * i18n — picks the language from Accept-Language and fills messages.
 *
 * pickLanguage() honours q-values and language prefixes (es-AR → es) and
 * falls back to English. t(key, vars) replaces `{name}` placeholders; the
 * result is plain text (escaped by html`` when rendered).
 */
import { en, type MessageKey, type Messages } from './en.js';
import { es } from './es.js';
import { fr } from './fr.js';
import { pt } from './pt.js';

export const CATALOGS: Record<string, Messages> = { en, es, pt, fr };

export function pickLanguage(header: string | undefined): string {
  if (!header) return 'en';
  const prefs = header
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
      return { lang: tag.trim().toLowerCase().split('-')[0], q: q ? Number(q[1]) : 1, i };
    })
    .filter((p) => p.lang && p.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return prefs.find((p) => p.lang in CATALOGS)?.lang ?? 'en';
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function translator(lang: string): Translate {
  const m = CATALOGS[lang] ?? en;
  return (key, vars) => {
    const s = m[key] ?? en[key];
    return vars ? s.replace(/\{(\w+)\}/g, (all, k: string) => (k in vars ? String(vars[k]) : all)) : s;
  };
}

export type { MessageKey };
