/**
 * cli-util — what both command-line programs share: exit codes, one-line
 * error reporting, and number parsing for options.
 *
 * Exit codes (documented in README and --help):
 *   0 ok · 1 error · 2 usage · 3 not registered · 4 server busy · 5 another run holds the lock ·
 *   6 server disk full
 */
import { InvalidArgumentError, type Command } from 'commander';
import { AppError, messageOf } from './errors.js';

export const EXIT = { ok: 0, error: 1, usage: 2, notRegistered: 3, busy: 4, locked: 5, diskFull: 6 } as const;

export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || n < min || n > max)
      throw new InvalidArgumentError(`must be a number from ${min} to ${max}`);
    return n;
  };
}

/** Runs a command action; prints one line on failure and exits with its code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      const prog = process.argv[1]?.split('/').pop() ?? 'ds-backup';
      process.stderr.write(`${prog}: ${messageOf(e)}\n`);
      if (e instanceof ExitError) process.exit(e.exitCode);
      if (e instanceof AppError && e.code === 'busy') process.exit(EXIT.busy);
      if (e instanceof AppError && e.code === 'disk_full') process.exit(EXIT.diskFull);
      if (e instanceof AppError && e.code === 'bad_request') process.exit(EXIT.usage);
      process.exit(EXIT.error);
    }
  };
}

/** Commander setup shared by both programs: usage errors exit 2 with one line. */
export function configureProgram(program: Command): Command {
  return program
    .exitOverride((err) => {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        process.exit(0);
      process.exit(EXIT.usage);
    })
    .showHelpAfterError('(run with --help for usage)');
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}
