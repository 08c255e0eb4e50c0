/**
 * state — what the agent remembers about its runs, for `ds-backup status`:
 * the last attempt, its outcome (ok / skipped / busy / failed) and reason,
 * the last success, and when the next attempt is due. Written atomically to
 * <profile>/ds-backup/state.json; ds-backup-done's mtime stays the
 * authoritative "last success" that 2008-era monitoring reads.
 */
import { readFileSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import type { Profile } from '../profile.js';
import { unlessMissing } from '../../platform/fs-errors.js';

export interface RunState {
  lastAttempt?: number;
  outcome?: 'ok' | 'skipped' | 'busy' | 'failed' | 'disk_full';
  reason?: string;
  lastSuccess?: number;
  nextAttempt?: number;
  lastSnapshots?: string[];
}

export function readState(p: Profile): RunState {
  try {
    return JSON.parse(readFileSync(join(p.stateDir, 'state.json'), 'utf8')) as RunState;
  } catch {
    return {}; // absent or damaged: start afresh (only the timing of the next attempt depends on it)
  }
}

export function writeState(p: Profile, update: RunState): RunState {
  const next = { ...readState(p), ...update };
  p.ensureStateDir();
  // Not flushed: status information only (readState treats a damaged file as empty).
  writeFileAtomic(join(p.stateDir, 'state.json'), JSON.stringify(next, null, 2) + '\n', 0o600, { flush: false });
  return next;
}

/** Touches ds-backup-done with the time of the success. */
export function markDone(p: Profile, when: Date): void {
  writeFileSync(p.doneFile, '', { flag: 'a' });
  utimesSync(p.doneFile, when, when);
}

export function lastDone(p: Profile): Date | null {
  try {
    return statSync(p.doneFile).mtime;
  } catch (e) {
    unlessMissing(e);
    return null;
  }
}
