/**
 * tally — what a torture part counted, what failed (each failure with what
 * reproduces it: the seed and the request or trial), and what hit a class
 * of defect another branch is fixing (known-pending: counted and listed,
 * not failed, until the lead turns the check on after merging that branch).
 */

/**
 * Defect classes of issue #16 fixed on other branches. A check that meets
 * one of them records it as pending instead of failing. TODO: once the
 * branch is merged, delete its class here: every check that used it fails
 * again on a regression.
 */
export const PENDING = {
  badinput:
    'TODO(badinput): web/DAV reads must verify hashes; bad content types, forms, control characters and deep trees must get a 4xx; commit body size',
  pop: "TODO(pop): proof of possession before another account's blob counts as a laptop's own",
  limits: 'TODO(limits): sign-in/registration rate limits per address and account; one canonical serial form',
} as const;
export type PendingClass = keyof typeof PENDING;

export interface Failure {
  what: string;
  repro: string;
}

export interface PartResult {
  part: string;
  seed: string;
  seconds: number;
  counts: Record<string, number>;
  failures: Failure[];
  pending: Array<{ cls: PendingClass; todo: string; count: number; examples: string[] }>;
}

export class Tally {
  readonly counts: Record<string, number> = {};
  readonly failures: Failure[] = [];
  private readonly pend = new Map<PendingClass, { count: number; examples: string[] }>();
  private readonly t0 = Date.now();

  constructor(
    readonly part: string,
    readonly seed: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  count(key: string, n = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }

  max(key: string, v: number): void {
    this.counts[key] = Math.max(this.counts[key] ?? 0, Math.round(v));
  }

  fail(what: string, repro: string): void {
    this.failures.push({ what, repro });
    this.log(`FAIL [${this.part}] ${what}\n  reproduce: --seed ${this.seed} ${repro}`);
  }

  pending(cls: PendingClass, example: string): void {
    const p = this.pend.get(cls) ?? { count: 0, examples: [] };
    p.count++;
    if (p.examples.length < 5) p.examples.push(example);
    this.pend.set(cls, p);
  }

  /** Runs a check; an exception is a failure with the given repro. */
  async check(repro: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.fail((e as Error).message, repro);
    }
  }

  result(): PartResult {
    return {
      part: this.part,
      seed: this.seed,
      seconds: Math.round((Date.now() - this.t0) / 100) / 10,
      counts: this.counts,
      failures: this.failures,
      pending: [...this.pend].map(([cls, p]) => ({ cls, todo: PENDING[cls], ...p })),
    };
  }
}
