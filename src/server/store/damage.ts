/**
 * damage — what reads found damaged (verified-reads.ts), kept for `verify`.
 *
 *   <root>/run/damaged/<id>   {"id", "kind", "problem", "at"} (one file per object, written atomically)
 *
 * A read that meets a pool blob or tree whose bytes do not hash to its name
 * fails; flag() records the object here (once), counts it, and tells the
 * listeners (the server logs it). `ds-backup-server verify` re-checks every
 * flagged object even when it samples, reports the ones still damaged, and
 * forgets the ones that are whole again or gone (flags() / forget()).
 * Files, not catalog rows: `reindex` must not lose them, and they are few.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import type { DamageKind } from './verified-reads.js';

export interface DamageFlag {
  id: string;
  kind: DamageKind;
  problem: string;
  /** When a read first met it (ms since the epoch). */
  at: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

export class DamageLog {
  private readonly dir: string;
  /** Damaged reads met by this process (metrics). */
  reads = 0;
  private readonly listeners: Array<(f: DamageFlag) => void> = [];

  constructor(root: string) {
    this.dir = join(root, 'run', 'damaged');
  }

  /** Hears of every damaged read (after it is flagged). */
  onDamage(fn: (f: DamageFlag) => void): void {
    this.listeners.push(fn);
  }

  /** Records a damaged object (the first time) and tells the listeners; never throws. */
  flag(id: string, kind: DamageKind, problem: string): void {
    this.reads++;
    const f: DamageFlag = { id, kind, problem, at: Date.now() };
    try {
      const path = join(this.dir, id);
      if (HEX64.test(id) && !existsSync(path)) {
        mkdirSync(this.dir, { recursive: true });
        writeFileAtomic(path, JSON.stringify(f) + '\n');
      }
    } catch {
      /* a full disk must not turn a refused read into a crash; the read fails all the same */
    }
    for (const l of this.listeners) l(f);
  }

  /** The objects reads found damaged and `verify` has not cleared. */
  flags(): DamageFlag[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => HEX64.test(n));
    } catch {
      return [];
    }
    const out: DamageFlag[] = [];
    for (const n of names) {
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as DamageFlag);
      } catch {
        out.push({ id: n, kind: 'blob', problem: 'flagged by a read', at: 0 });
      }
    }
    return out;
  }

  /** Forgets a flag (verify found the object whole again, or gone). */
  forget(id: string): void {
    if (HEX64.test(id)) rmSync(join(this.dir, id), { force: true });
  }
}
