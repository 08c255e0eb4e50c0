/**
 * replacements — the admin's approvals for a new laptop to register into an
 * old laptop's account (`ds-backup register --replaces OLD` without the old
 * restore code).
 *
 * The truth is `<root>/accounts/replacements.json` (mode 0600, written
 * atomically and flushed), so a rebuilt catalog keeps pending approvals.
 * An approval is used up by the registration it allows.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';

export interface Approval {
  newSerial: string;
  oldSerial: string;
  createdAt: number;
}

export class Replacements {
  private readonly dir: string;
  private readonly path: string;

  constructor(
    root: string,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(root, 'accounts');
    this.path = join(this.dir, 'replacements.json');
  }

  list(): Approval[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return (JSON.parse(text) as { approvals: Approval[] }).approvals;
  }

  private write(approvals: Approval[]): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(this.path, JSON.stringify({ version: 1, approvals }, null, 1) + '\n', 0o600);
  }

  /** Approves newSerial replacing oldSerial (one approval per new serial). */
  approve(newSerial: string, oldSerial: string, createdAt = this.now()): void {
    this.write([...this.list().filter((a) => a.newSerial !== newSerial), { newSerial, oldSerial, createdAt }]);
  }

  /** True (and the approval used up) when the admin approved newSerial replacing oldSerial. */
  take(newSerial: string, oldSerial: string): boolean {
    const all = this.list();
    const rest = all.filter((a) => !(a.newSerial === newSerial && a.oldSerial === oldSerial));
    if (rest.length === all.length) return false;
    this.write(rest);
    return true;
  }
}
