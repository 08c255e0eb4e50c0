/**
 * dates — dates as people read them, in the school's time zone and the
 * reader's language, with Intl only (no tables of month names here):
 *
 *   when(ms)  "Today 12:40", "Yesterday 09:10", "3 days ago", then
 *             "Tuesday 24 November" (with the year when it is not this year)
 *   ago(ms)   "5 minutes ago", "9 days ago" (the dashboard's ages)
 *   short(ms) "24 Nov", for chart axes
 *   full(ms)  the whole date and time, for a title="" tooltip
 *
 * "Today" and "yesterday" are calendar days in the time zone, not 24-hour
 * spans. The zone is the server setting `timeZone`; '' (or an unknown
 * name) means the machine's own zone. `now` comes in so tests can fix it.
 */

const DAY = 86_400_000;

/** The zone to use: the setting when Intl knows it, else the machine's. */
export function resolveTimeZone(setting: string | undefined): string {
  if (setting) {
    try {
      return new Intl.DateTimeFormat('en', { timeZone: setting }).resolvedOptions().timeZone;
    } catch {
      /* unknown zone name: fall back to the machine's */
    }
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const upperFirst = (s: string, lang: string) => s.charAt(0).toLocaleUpperCase(lang) + s.slice(1);

export class DateFmt {
  private readonly dayKey: Intl.DateTimeFormat;
  private readonly time: Intl.DateTimeFormat;
  private readonly weekday: Intl.DateTimeFormat;
  private readonly weekdayYear: Intl.DateTimeFormat;
  private readonly long: Intl.DateTimeFormat;
  private readonly rel: Intl.RelativeTimeFormat;

  constructor(
    readonly lang: string,
    readonly timeZone: string,
    private readonly now: () => number = Date.now,
  ) {
    const tz = { timeZone };
    this.dayKey = new Intl.DateTimeFormat('en-CA', { ...tz, year: 'numeric', month: '2-digit', day: '2-digit' });
    this.time = new Intl.DateTimeFormat(lang, { ...tz, hour: 'numeric', minute: '2-digit' });
    this.weekday = new Intl.DateTimeFormat(lang, { ...tz, weekday: 'long', day: 'numeric', month: 'long' });
    this.weekdayYear = new Intl.DateTimeFormat(lang, {
      ...tz,
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
    });
    this.long = new Intl.DateTimeFormat(lang, { ...tz, dateStyle: 'full', timeStyle: 'short' });
    this.rel = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  }

  /** The calendar day of `ms` in the zone, as a day number (days since 1970-01-01 there). */
  private day(ms: number): number {
    const [y, m, d] = this.dayKey.format(ms).split('-').map(Number);
    return Math.round(Date.UTC(y, m - 1, d) / DAY);
  }

  private year(ms: number): string {
    return this.dayKey.format(ms).slice(0, 4);
  }

  /** Calendar days from `ms` to now (0 = today, 1 = yesterday; negative = future). */
  daysAgo(ms: number): number {
    return this.day(this.now()) - this.day(ms);
  }

  when(ms: number | null | undefined): string {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    const days = this.daysAgo(ms);
    if (days === 0 || days === 1)
      return `${upperFirst(this.rel.format(-days, 'day'), this.lang)} ${this.time.format(ms)}`;
    if (days > 1 && days < 7) return upperFirst(this.rel.format(-days, 'day'), this.lang);
    const f = this.year(ms) === this.year(this.now()) ? this.weekday : this.weekdayYear;
    return upperFirst(f.format(ms), this.lang);
  }

  /** How long ago, in the largest unit that fits: minutes, hours, then days. */
  ago(ms: number | null | undefined): string {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    const mins = Math.max(0, Math.round((this.now() - ms) / 60_000));
    if (mins < 1) return this.rel.format(0, 'second'); // "now", not "0 minutes ago"
    const rel = new Intl.RelativeTimeFormat(this.lang, { numeric: 'always' });
    if (mins < 60) return rel.format(-mins, 'minute');
    if (mins < 36 * 60) return rel.format(-Math.round(mins / 60), 'hour');
    return rel.format(-Math.round(mins / 1440), 'day');
  }

  /** Day and month only ("24 Nov"), for chart axes. */
  short(ms: number): string {
    return new Intl.DateTimeFormat(this.lang, { timeZone: this.timeZone, day: 'numeric', month: 'short' }).format(ms);
  }

  full(ms: number | null | undefined): string {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
    return this.long.format(ms);
  }
}
