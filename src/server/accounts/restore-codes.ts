/**
 * restore-codes — each laptop's 6-digit restore code, for signing in to the
 * web pages away from the laptop and for `ds-backup register --replaces`.
 *
 * The truth is `users/<SN>/restore-code.json` (mode 0600, written atomically
 * and flushed), beside device.json, so deleting and rebuilding the catalog
 * keeps every code. A code is stored as is: a 6-digit secret cannot be
 * protected by a hash (a million guesses undo it), so it is protected by the
 * login rate limit instead; comparisons take constant time. The laptop reads
 * its code with its token (GET /api/v1/restore-code); the admin resets it.
 */
import { randomInt } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { safeEqual } from './tokens.js';

interface CodeFile {
  version: 1;
  code: string;
  updatedAt: number;
}

export class RestoreCodes {
  constructor(
    private readonly usersDir: string,
    private readonly now: () => number = Date.now,
  ) {}

  private file(serial: string): string {
    return join(this.usersDir, serial, 'restore-code.json');
  }

  private read(serial: string): string | null {
    let text: string;
    try {
      text = readFileSync(this.file(serial), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const f = JSON.parse(text) as CodeFile;
    return /^\d{6}$/.test(f.code) ? f.code : null;
  }

  /** Writes a code (the laptop's folder must exist: it is registered). */
  set(serial: string, code: string, updatedAt = this.now()): void {
    const f: CodeFile = { version: 1, code, updatedAt };
    writeFileAtomic(this.file(serial), JSON.stringify(f) + '\n', 0o600);
  }

  /** Keeps `code` unless the laptop already has one (migration of an old catalog). */
  adopt(serial: string, code: string, updatedAt: number): void {
    if (this.read(serial) === null) this.set(serial, code, updatedAt);
  }

  /** The laptop's restore code, created on first use. */
  get(serial: string): string {
    return this.read(serial) ?? this.reset(serial);
  }

  reset(serial: string): string {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    this.set(serial, code);
    return code;
  }

  check(serial: string, code: string): boolean {
    const have = this.read(serial);
    return have !== null && safeEqual(have, code.trim());
  }

  forget(serial: string): void {
    rmSync(this.file(serial), { force: true });
  }
}
