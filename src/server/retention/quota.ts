/**
 * quota — the soft-quota rule as a pure function (the 2008 rule, measured in
 * distinct bytes instead of hard-link farms).
 *
 * When the store's filesystem uses more than `softQuotaPct` of its blocks or
 * inodes, every account whose usage is above an equal share of the quota
 * loses its oldest removable snapshot; then usages are measured again and
 * the next round starts, until the disk is under the quota or `maxRounds`
 * rounds ran. An optional absolute `accountCapBytes` applies the same rounds
 * to any account above the cap, whatever the disk says.
 *
 * Usage = bytes of the distinct blobs and trees an account's snapshots and
 * pins reference. "What is left after removing these snapshots" is asked of
 * a model (see usage.ts) so this function stays pure and testable: given the
 * same inputs it returns the same removals, each with its reason. Pinned
 * snapshots and each source's latest are never candidates; when an account
 * is above its share with nothing left to remove, the plan says so.
 */

export interface QuotaPolicy {
  softQuotaPct: number;
  maxRounds: number;
  accountCapBytes: number;
}

export const DEFAULT_QUOTA: QuotaPolicy = { softQuotaPct: 70, maxRounds: 10, accountCapBytes: 0 };

export interface DiskFigures {
  totalBytes: number;
  usedBytes: number;
  totalInodes: number;
  usedInodes: number;
}

export interface QuotaAccount {
  id: number;
  label: string;
  /** Removable snapshots, oldest first (not latest, not pinned, not already thinned). */
  removable: Array<{ id: number; name: string; serial: string }>;
}

export interface UsageModel {
  /** Bytes the account references once `removed` snapshots are gone. */
  usage(accountId: number, removed: ReadonlySet<number>): number;
  /** Bytes its pins hold on their own. */
  pinnedBytes(accountId: number): number;
  /** Store-wide bytes and objects no longer referenced once `removed` are gone. */
  freed(removed: ReadonlySet<number>): { bytes: number; objects: number };
}

export interface QuotaRemoval {
  snapshotId: number;
  accountId: number;
  name: string;
  serial: string;
  round: number;
  why: string;
}

export interface QuotaPlan {
  overQuota: boolean;
  share: number;
  rounds: number;
  removals: QuotaRemoval[];
  notes: string[];
  /** Estimated figures after the removals. */
  after: { usedBytes: number; usedInodes: number; overQuota: boolean };
}

function overQuota(d: DiskFigures, pct: number, freed: { bytes: number; objects: number }): boolean {
  const blocks = d.totalBytes > 0 && ((d.usedBytes - freed.bytes) * 100) / d.totalBytes > pct;
  const inodes = d.totalInodes > 0 && ((d.usedInodes - freed.objects) * 100) / d.totalInodes > pct;
  return blocks || inodes;
}

export function planQuota(
  disk: DiskFigures,
  policy: QuotaPolicy,
  accounts: QuotaAccount[],
  model: UsageModel,
): QuotaPlan {
  const share = accounts.length ? (disk.totalBytes * policy.softQuotaPct) / 100 / accounts.length : 0;
  const removed = new Set<number>();
  const removals: QuotaRemoval[] = [];
  const notes = new Set<string>();
  const next = new Map(accounts.map((a) => [a.id, 0]));
  const startOver = overQuota(disk, policy.softQuotaPct, { bytes: 0, objects: 0 });
  let freed = { bytes: 0, objects: 0 };
  let rounds = 0;
  for (let round = 1; round <= policy.maxRounds; round++) {
    const diskOver = overQuota(disk, policy.softQuotaPct, freed);
    let removedThisRound = 0;
    for (const a of accounts) {
      const u = { bytes: model.usage(a.id, removed) };
      const aboveShare = diskOver && u.bytes > share;
      const aboveCap = policy.accountCapBytes > 0 && u.bytes > policy.accountCapBytes;
      if (!aboveShare && !aboveCap) continue;
      const limit = aboveShare ? share : policy.accountCapBytes;
      const what = aboveShare
        ? `above an equal share of the soft quota (${fmt(u.bytes)} > ${fmt(share)})`
        : `above the account cap (${fmt(u.bytes)} > ${fmt(policy.accountCapBytes)})`;
      const i = next.get(a.id)!;
      if (i >= a.removable.length) {
        const pinned = model.pinnedBytes(a.id);
        if (pinned > limit)
          notes.add(
            `${a.label}: pins alone hold ${fmt(pinned)}, more than the ${fmt(limit)} allowed; pins are never removed`,
          );
        else notes.add(`${a.label}: ${what}, but only latest or pinned snapshots are left`);
        continue;
      }
      const s = a.removable[i];
      next.set(a.id, i + 1);
      removed.add(s.id);
      removals.push({
        snapshotId: s.id,
        accountId: a.id,
        name: s.name,
        serial: s.serial,
        round,
        why: `quota round ${round}: ${a.label} ${what}`,
      });
      removedThisRound++;
    }
    if (!removedThisRound) break;
    rounds = round;
    freed = model.freed(removed);
  }
  return {
    overQuota: startOver,
    share,
    rounds,
    removals,
    notes: [...notes],
    after: {
      usedBytes: disk.usedBytes - freed.bytes,
      usedInodes: disk.usedInodes - freed.objects,
      overQuota: overQuota(disk, policy.softQuotaPct, freed),
    },
  };
}

export function fmt(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}
