/**
 * load-policy — may a backup start at this machine load? (issue #16 §9)
 *
 * The limit is per core: the 1-minute load average divided by the number of
 * cores (os.availableParallelism()), compared with `loadLimit` (config; a
 * 4-core server at load 6 is at 1.5 per core). A high load refuses a backup
 * with reason 'load' — except for a laptop that is *overdue*: its last
 * successful backup is OVERDUE_MS (two days) old or more, or it never had
 * one. Such a laptop is let through whatever the load (the slots and the
 * disk still apply), so a server that is always busy cannot starve it.
 *
 * loadVerdict() is pure and says why; admission.ts decide() uses it.
 */

export const OVERDUE_MS = 2 * 86_400_000;

export interface LoadFacts {
  load1: number;
  cores: number;
  /** Per-core limit (config loadLimit). */
  limitPerCore: number;
  /** The laptop's last successful backup (ms); null = never. */
  lastSuccess: number | null;
  now: number;
  overdueMs?: number;
}

export type LoadVerdict =
  { ok: true; reason: 'under-limit' | 'overdue'; perCore: number } | { ok: false; reason: 'load'; perCore: number };

export function perCoreLoad(load1: number, cores: number): number {
  return load1 / Math.max(1, Math.floor(cores) || 1);
}

export function loadVerdict(f: LoadFacts): LoadVerdict {
  const perCore = perCoreLoad(f.load1, f.cores);
  if (perCore <= f.limitPerCore) return { ok: true, reason: 'under-limit', perCore };
  const overdue = f.lastSuccess === null || f.now - f.lastSuccess >= (f.overdueMs ?? OVERDUE_MS);
  return overdue ? { ok: true, reason: 'overdue', perCore } : { ok: false, reason: 'load', perCore };
}
