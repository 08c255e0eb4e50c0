/**
 * run — `ds-backup run`, the entry point a timer calls every 15 minutes.
 *
 * Checks in order, cheapest first; each skip ends the run with exit 0 and
 * its reason logged and written to state.json:
 *   1. already backed up today (ds-backup-done touched since local midnight);
 *   2. on battery below minBattery % (power.ts);
 *   3. not registered, or the server does not answer GET /api/v1/ping.
 * Then a random stagger sleep (0 … maxSleep), "done today" again, the run
 * lock without waiting (lock.ts; held elsewhere → exit 5), "done today" once
 * more (the holder may just have finished), and the backup.
 * Busy (503) → wait Retry-After (within an hour of waiting) or back off
 * with full jitter (at most MAX_TRIES tries) — schedule.ts busyStep — then
 * give up until the next tick (exit 4).
 *
 * Failures, "busy" give-ups and battery skips are reported to the server
 * (report.ts, deps.report) so the admin's dashboard shows them.
 *
 * Settings: options, else <profile>/ds-backup/schedule.json
 * ({"minBattery": 30, "maxSleepMinutes": 20}), else the defaults. A separate
 * file because re-registering rewrites config.json.
 *
 * After a backup attempt, still holding the lock, an agent installed by the
 * school server's script upgrades itself when the ping answer offered a newer
 * agent (../install/self-upgrade.ts; never fails the run).
 *
 * Clock, sleep, random, power, ping, lock and the backup itself come in as
 * RunDeps so tests drive every rule with fakes; realDeps() wires the real ones.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { EXIT } from '../../platform/cli-util.js';
import { AppError } from '../../platform/errors.js';
import { API } from '../../protocol/api.js';
import type { PingAnswer } from '../../protocol/api-types.js';
import { backup, type BackupResult } from '../backup/backup.js';
import { selfUpgrade } from '../install/self-upgrade.js';
import { tryLock, type RunLock } from './lock.js';
import { reportToServer } from './report.js';
import { powerVerdict, readPower, type PowerInfo } from './power.js';
import type { Profile } from '../profile.js';
import {
  busyStep,
  DEFAULT_MAX_SLEEP_MS,
  DEFAULT_MIN_BATTERY,
  doneToday,
  nextMidnight,
  staggerMs,
  TICK_MS,
  type BusyState,
} from './schedule.js';
import { lastDone, writeState, type RunState } from './state.js';
import { readJsonState } from '../../platform/fs-errors.js';

export interface RunSettings {
  noSleep: boolean;
  maxSleepMs: number;
  minBattery: number;
  sysfsRoot: string;
  documents?: string;
}

export interface RunDeps {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
  power(sysfsRoot: string): PowerInfo;
  ping(server: string): Promise<boolean>;
  lock(file: string): Promise<RunLock | null>;
  backup(profile: Profile, documents?: string): Promise<BackupResult>;
  /** After a backup attempt: upgrade this agent if the last ping offered a newer one. Never throws. */
  upgrade?(server: string): Promise<void>;
  log(line: string): void;
  /** Tells the server about an outcome marked `report` (best effort; absent in tests that do not care). */
  report?(profile: Profile, outcome: 'failed' | 'busy' | 'skipped', reason: string): Promise<unknown>;
}

export interface RunOutcome {
  outcome: 'ok' | 'skipped' | 'busy' | 'failed' | 'locked' | 'disk_full';
  reason: string;
  exitCode: number;
  tries: number;
  sleptMs: number;
  nextAttempt?: number;
  backup?: BackupResult;
  /** True when the server is told about this outcome (failure, busy, battery skip). */
  report?: boolean;
}

export function realDeps(log: (line: string) => void): RunDeps {
  let offer: unknown; // the ping answer's `agent` field
  return {
    now: Date.now,
    sleep: (ms) => delay(ms),
    random: Math.random,
    power: readPower,
    ping: async (server) => {
      try {
        const r = await fetch(`${server.replace(/\/$/, '')}${API.ping.url}`, { signal: AbortSignal.timeout(10_000) });
        offer = ((await r.json().catch(() => null)) as PingAnswer | null)?.agent;
        return r.ok;
      } catch {
        return false; // any network failure or timeout: the server is not reachable now
      }
    },
    lock: tryLock,
    backup: (profile, documents) => backup({ profile, documents }),
    upgrade: async (server) => void (await selfUpgrade(server, offer, log)),
    log,
    report: reportToServer,
  };
}

/** schedule.json merged under explicit options. */
export function runSettings(
  profile: Profile,
  o: { noSleep?: boolean; maxSleep?: number; minBattery?: number; sysfsRoot?: string; documents?: string },
): RunSettings {
  let file: { minBattery?: number; maxSleepMinutes?: number } = {};
  // No schedule.json: defaults; a damaged one stops with its name rather than silently using defaults.
  file = (readJsonState(join(profile.stateDir, 'schedule.json'), 'schedule settings') as typeof file | null) ?? file;
  const minutes = o.maxSleep ?? file.maxSleepMinutes;
  return {
    noSleep: Boolean(o.noSleep),
    maxSleepMs: minutes !== undefined ? minutes * 60_000 : DEFAULT_MAX_SLEEP_MS,
    minBattery: o.minBattery ?? file.minBattery ?? DEFAULT_MIN_BATTERY,
    sysfsRoot: o.sysfsRoot ?? '/',
    documents: o.documents,
  };
}

export async function scheduledRun(profile: Profile, s: RunSettings, deps: RunDeps): Promise<RunOutcome> {
  const r = await runSteps(profile, s, deps);
  const outcome = r.outcome;
  if (r.report && deps.report && (outcome === 'failed' || outcome === 'busy' || outcome === 'skipped'))
    await deps.report(profile, outcome, r.reason).catch(() => undefined);
  return r;
}

async function runSteps(profile: Profile, s: RunSettings, deps: RunDeps): Promise<RunOutcome> {
  let sleptMs = 0;
  const end = (r: Omit<RunOutcome, 'sleptMs' | 'tries'> & { tries?: number }, state: RunState = {}): RunOutcome => {
    if (r.outcome !== 'locked') {
      writeState(profile, {
        lastAttempt: deps.now(),
        outcome: r.outcome === 'ok' ? 'ok' : r.outcome,
        reason: r.reason,
        nextAttempt: r.nextAttempt,
        ...state,
      });
    }
    deps.log(`${r.outcome === 'ok' ? 'backed up' : r.outcome}: ${r.reason}`);
    return { tries: 0, ...r, sleptMs };
  };
  const skip = (reason: string, nextAttempt = deps.now() + TICK_MS) =>
    end({ outcome: 'skipped', reason, exitCode: EXIT.ok, nextAttempt });
  const isDone = () => doneToday(lastDone(profile)?.getTime() ?? null, deps.now());

  if (isDone()) return skip('already backed up today', nextMidnight(deps.now()));
  const power = powerVerdict(deps.power(s.sysfsRoot), s.minBattery);
  if (!power.go) return { ...skip(power.reason), report: true };
  const cfg = profile.readConfig();
  if (!cfg) return skip('this laptop is not registered (run: ds-backup register --server URL)');
  if (!(await deps.ping(cfg.server))) return skip(`the server ${cfg.server} does not answer`);

  if (!s.noSleep && s.maxSleepMs > 0) {
    const ms = staggerMs(deps.random(), s.maxSleepMs);
    deps.log(`waiting ${Math.round(ms / 1000)} s so the laptops of a school do not all arrive at once`);
    await deps.sleep(ms);
    sleptMs += ms;
    if (isDone()) return skip('already backed up today', nextMidnight(deps.now()));
  }

  const lock = await deps.lock(profile.lockFile);
  let attempted = false;
  if (!lock)
    return end({ outcome: 'locked', reason: `another ds-backup run holds ${profile.lockFile}`, exitCode: EXIT.locked });
  try {
    // A run that held the lock until just now may have finished today's backup.
    if (isDone()) return skip('already backed up today', nextMidnight(deps.now()));
    attempted = true;
    let busy: BusyState = { blind: 0, waitedMs: 0 };
    for (let tries = 1; ; tries++) {
      try {
        const r = await deps.backup(profile, s.documents);
        return end({
          outcome: 'ok',
          reason: `${r.snapshots.map((x) => x.name).join(', ')} (${r.uploadedBlobs} files sent)`,
          exitCode: EXIT.ok,
          tries,
          backup: r,
          nextAttempt: nextMidnight(deps.now()),
        });
      } catch (e) {
        if (e instanceof AppError && e.code === 'disk_full') {
          return end({
            outcome: 'disk_full',
            reason: e.message,
            exitCode: EXIT.diskFull,
            tries,
            nextAttempt: deps.now() + TICK_MS,
          });
        }
        if (!(e instanceof AppError && e.code === 'busy')) {
          return end({
            outcome: 'failed',
            reason: (e as Error).message,
            exitCode: EXIT.error,
            tries,
            nextAttempt: deps.now() + TICK_MS,
            report: true,
          });
        }
        const step = busyStep(busy, e.retryAfter, deps.random());
        busy = step.state;
        if (step.giveUp) {
          return end({
            outcome: 'busy',
            reason: `server still busy after ${tries} tries (${Math.round(busy.waitedMs / 60_000)} min of waiting; last answer: ${e.message.replace(/; retry in \d+ s$/, '')}); trying again at the next timer tick`,
            exitCode: EXIT.busy,
            tries,
            nextAttempt: deps.now() + TICK_MS,
            report: true,
          });
        }
        const wait = step.waitMs;
        writeState(profile, {
          lastAttempt: deps.now(),
          outcome: 'busy',
          reason: `${e.message} (try ${tries})`,
          nextAttempt: deps.now() + wait,
        });
        deps.log(`server busy (try ${tries}); waiting ${Math.round(wait / 1000)} s`);
        await deps.sleep(wait);
        sleptMs += wait;
      }
    }
  } finally {
    if (attempted) await deps.upgrade?.(cfg.server);
    await lock.release();
  }
}
