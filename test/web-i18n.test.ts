/**
 * The pages' words and dates: every language has every message key with
 * the same {placeholders} as English; dates read "Today 12:40",
 * "Yesterday", "3 days ago", "Tuesday 24 November" in the school's time
 * zone and the reader's language; the kind and date filters.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOGS, translator } from '../src/server/http/web/i18n/index.js';
import { en } from '../src/server/http/web/i18n/en.js';
import { DateFmt, resolveTimeZone } from '../src/server/http/web/dates.js';
import { kindOf, whenRange } from '../src/server/http/web/kinds.js';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('message catalogs', () => {
  test('every language has every key of English, with the same placeholders, and no empty or extra key', () => {
    assert.deepEqual(Object.keys(CATALOGS).sort(), ['en', 'es', 'fr', 'pt']);
    for (const [lang, m] of Object.entries(CATALOGS)) {
      const missing = Object.keys(en).filter((k) => !(k in m));
      assert.deepEqual(missing, [], `${lang} misses keys`);
      const extra = Object.keys(m).filter((k) => !(k in en));
      assert.deepEqual(extra, [], `${lang} has keys English does not`);
      for (const [k, v] of Object.entries(m)) {
        assert.ok(typeof v === 'string' && v.trim().length > 0, `${lang}.${k} is empty`);
        assert.deepEqual(placeholders(v), placeholders(en[k as keyof typeof en]), `${lang}.${k} placeholders`);
      }
      assert.equal(m.lang, lang);
    }
  });

  test('words a child knows: no "snapshot", "PIN" or "Terminal" in the student pages; Spanish keep is not "Quitar"', () => {
    for (const [lang, m] of Object.entries(CATALOGS)) {
      for (const k of [
        'signInHelp',
        'keepForever',
        'stopKeeping',
        'restoreHelp',
        'noBackupsYet',
        'restoreCode',
      ] as const) {
        assert.doesNotMatch(m[k], /snapshot|\bPIN\b|Terminal/i, `${lang}.${k}`);
      }
    }
    assert.doesNotMatch(CATALOGS.es.stopKeeping, /Quitar/);
    assert.doesNotMatch(CATALOGS.es.st_stale, /abandonad/);
    assert.equal(translator('pt')('entries', { count: 3 }), '3 documentos');
  });
});

describe('dates people read', () => {
  // Tuesday 24 November 2026, 15:40 UTC.
  const NOW = Date.UTC(2026, 10, 24, 15, 40);
  const at = (lang: string, tz: string) => new DateFmt(lang, tz, () => NOW);
  const H = 3600_000;

  test('English in UTC: today with the time, yesterday, days ago, then the weekday and date', () => {
    const d = at('en', 'UTC');
    assert.match(d.when(NOW - 3 * H), /^Today 12:40\s?PM$/);
    assert.match(d.when(NOW - 20 * H), /^Yesterday 7:40\s?PM$/);
    assert.equal(d.when(NOW - 3 * 24 * H), '3 days ago');
    assert.equal(d.when(NOW - 7 * 24 * H), 'Tuesday, November 17');
    assert.equal(d.when(Date.UTC(2025, 0, 5, 12)), 'Sunday, January 5, 2025');
    assert.equal(d.ago(NOW - 9 * 24 * H), '9 days ago');
    assert.equal(d.ago(NOW - 5 * 60_000), '5 minutes ago');
    assert.equal(d.ago(NOW - 10_000), 'now', 'a backup seconds old is "now", not "0 minutes ago"');
    assert.equal(d.when(null), '—');
  });

  test('Spanish, Portuguese and French, each in its school time zone', () => {
    // 02:00 UTC on the 24th is still the 23rd in Montevideo (UTC-3) and Port-au-Prince (UTC-5).
    const early = Date.UTC(2026, 10, 24, 2, 0);
    assert.equal(at('es', 'America/Montevideo').when(early), 'Ayer 23:00');
    assert.equal(at('es', 'UTC').when(early), 'Hoy 2:00');
    assert.equal(at('pt', 'America/Sao_Paulo').when(early), 'Ontem 23:00');
    assert.equal(at('fr', 'America/Port-au-Prince').when(early), 'Hier 21:00');
    assert.equal(at('fr', 'Africa/Kigali').when(early), 'Aujourd’hui 4:00');
    assert.equal(at('es', 'UTC').when(NOW - 3 * 24 * H), 'Hace 3 días');
    assert.equal(at('pt', 'UTC').when(NOW - 3 * 24 * H), 'Há 3 dias');
    assert.equal(at('fr', 'UTC').when(NOW - 3 * 24 * H), 'Il y a 3 jours');
    assert.equal(at('es', 'UTC').when(NOW - 7 * 24 * H), 'Martes, 17 de noviembre');
    assert.equal(at('fr', 'UTC').when(NOW - 7 * 24 * H), 'Mardi 17 novembre');
    assert.equal(at('pt', 'UTC').when(NOW - 7 * 24 * H), 'Terça-feira, 17 de novembro');
    assert.equal(at('es', 'UTC').ago(NOW - 9 * 24 * H), 'hace 9 días');
  });

  test('the time zone setting: a known name is used, an unknown one or none falls back to the machine', () => {
    assert.equal(resolveTimeZone('America/Lima'), 'America/Lima');
    const machine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    assert.equal(resolveTimeZone(''), machine);
    assert.equal(resolveTimeZone('Not/AZone'), machine);
  });

  test('filters: kinds of activities and "when" ranges start at midnight in the zone', () => {
    assert.equal(kindOf('org.laptop.Oficina'), 'drawing');
    assert.equal(kindOf('org.laptop.AbiWordActivity'), 'writing');
    assert.equal(kindOf('com.example.Unknown'), 'other');
    const d = at('es', 'America/Montevideo');
    // Local midnight of the 24th in Montevideo is 03:00 UTC.
    assert.equal(whenRange('today', d, NOW).from, Date.UTC(2026, 10, 24, 3) / 1000);
    assert.equal(whenRange('week', d, NOW).from, Date.UTC(2026, 10, 18, 3) / 1000);
    assert.equal(whenRange('older', d, NOW).to, Date.UTC(2025, 10, 24, 3) / 1000);
  });
});
