/**
 * retention — which snapshots to keep: the thinning rule as a pure function.
 *
 * thin(snapshots, policy, now) decides for every snapshot, with a reason:
 *  - a source's latest snapshot (per laptop and source) is always kept;
 *  - a pinned snapshot is always kept;
 *  - every snapshot younger than `keepDays` (90 by default) is kept;
 *  - of older ones, the first of each calendar month (UTC) is kept;
 *  - every other snapshot is removed.
 * The same call serves `cleanup --dry-run`, which prints the reasons.
 */

export interface RetentionPolicy {
  /** Keep every snapshot younger than this many days. */
  keepDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keepDays: 90 };

export interface SnapshotFacts {
  id: number;
  accountId: number;
  serial: string;
  source: string;
  name: string;
  createdAt: number;
  pinned: boolean;
}

export type KeepReason = 'latest' | 'pinned' | 'recent' | 'monthly';

export type Verdict =
  | { snapshot: SnapshotFacts; keep: true; reason: KeepReason; why: string }
  | { snapshot: SnapshotFacts; keep: false; reason: 'thinned'; why: string };

const DAY = 86_400_000;

export function monthOf(t: number): string {
  return new Date(t).toISOString().slice(0, 7);
}

function order(a: SnapshotFacts, b: SnapshotFacts): number {
  return a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id);
}

/** Groups snapshots by laptop and source; each group sorted oldest first. */
export function bySource(snapshots: SnapshotFacts[]): Map<string, SnapshotFacts[]> {
  const groups = new Map<string, SnapshotFacts[]>();
  for (const s of snapshots) {
    const k = `${s.serial}/${s.source}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(s);
  }
  for (const g of groups.values()) g.sort(order);
  return groups;
}

/** The thinning decision for every snapshot (same order as given). */
export function thin(snapshots: SnapshotFacts[], policy: RetentionPolicy, now: number): Verdict[] {
  const verdicts = new Map<number, Verdict>();
  const horizon = now - policy.keepDays * DAY;
  for (const group of bySource(snapshots).values()) {
    const firstOfMonth = new Set<string>();
    group.forEach((s, i) => {
      const month = monthOf(s.createdAt);
      const first = !firstOfMonth.has(month);
      firstOfMonth.add(month);
      let v: Verdict;
      if (i === group.length - 1)
        v = { snapshot: s, keep: true, reason: 'latest', why: `the latest ${s.source} snapshot of ${s.serial}` };
      else if (s.pinned) v = { snapshot: s, keep: true, reason: 'pinned', why: 'pinned' };
      else if (s.createdAt > horizon)
        v = { snapshot: s, keep: true, reason: 'recent', why: `younger than ${policy.keepDays} days` };
      else if (first) v = { snapshot: s, keep: true, reason: 'monthly', why: `first snapshot of ${month}` };
      else
        v = {
          snapshot: s,
          keep: false,
          reason: 'thinned',
          why: `older than ${policy.keepDays} days and not the first of ${month}`,
        };
      verdicts.set(s.id, v);
    });
  }
  return snapshots.map((s) => verdicts.get(s.id)!);
}
