/**
 * kinds — the Journal filters a child understands: kinds of work (drawings,
 * writing, recordings…) as lists of Sugar activity bundle ids, and "when"
 * ranges (today, this week, this month, this year) as a lower bound on the
 * entry's timestamp in the school's time zone. 'other' is every activity
 * that no kind lists. Unknown filter values are ignored by the routes.
 */
import type { DateFmt } from './dates.js';

export const KINDS = {
  drawing: [
    'org.laptop.Oficina',
    'org.laptop.Paint',
    'org.tuxpaint',
    'org.laptop.TuxPaint',
    'com.laptop.Colors',
    'org.sugarlabs.PaintActivity',
  ],
  writing: ['org.laptop.AbiWordActivity', 'org.sugarlabs.WriteActivity', 'org.laptop.sugar.WriteActivity'],
  recording: [
    'org.laptop.RecordActivity',
    'org.laptop.TamTamEdit',
    'org.laptop.TamTamJam',
    'org.laptop.TamTamSynthLab',
    'org.laptop.TamTamMini',
    'org.sugarlabs.MusicKeyboard',
  ],
  programming: [
    'org.laptop.TurtleArtActivity',
    'org.laptop.Pippy',
    'edu.mit.media.ScratchActivity',
    'org.vpri.EtoysActivity',
    'org.laptop.Terminal',
  ],
  reading: ['org.laptop.sugar.ReadActivity', 'org.laptop.ImageViewerActivity', 'org.laptop.WebActivity'],
  games: ['org.laptop.physics', 'org.sugarlabs.AbacusActivity', 'org.laptop.Calculate', 'org.laptop.Memorize'],
} as const;

export type Kind = keyof typeof KINDS | 'other';
export const KIND_NAMES: Kind[] = [...(Object.keys(KINDS) as Array<keyof typeof KINDS>), 'other'];
export const WHEN_NAMES = ['today', 'week', 'month', 'year', 'older'] as const;
export type When = (typeof WHEN_NAMES)[number];

export function isKind(s: string | undefined): s is Kind {
  return KIND_NAMES.includes(s as Kind);
}
export function isWhen(s: string | undefined): s is When {
  return WHEN_NAMES.includes(s as When);
}

/** The kind an activity belongs to. */
export function kindOf(activity: string): Kind {
  for (const k of Object.keys(KINDS) as Array<keyof typeof KINDS>)
    if ((KINDS[k] as readonly string[]).includes(activity)) return k;
  return 'other';
}

/** Bundle ids listed by every kind (for 'other': NOT IN these). */
export function allListed(): string[] {
  return Object.values(KINDS).flat();
}

/**
 * The timestamp range (seconds, Sugar's unit) of a "when": [from, to).
 * today / week / month / year start at the calendar boundary in the zone
 * (week: 7 calendar days including today); older is before a year ago.
 */
export function whenRange(when: When, dates: DateFmt, now = Date.now()): { from?: number; to?: number } {
  const startOfToday = now - msSinceMidnight(dates, now);
  const days = { today: 0, week: 6, month: 30, year: 365 } as const;
  if (when === 'older') return { to: Math.floor((startOfToday - 365 * 86_400_000) / 1000) };
  return { from: Math.floor((startOfToday - days[when] * 86_400_000) / 1000) };
}

function msSinceMidnight(dates: DateFmt, now: number): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: dates.timeZone,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(now);
  const n = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return ((n('hour') * 60 + n('minute')) * 60 + n('second')) * 1000 + (now % 1000);
}
