/**
 * lock — the run lock: one `ds-backup run` per profile at a time.
 *
 * An OS-level lock that dies with the process, on <profile>/lock/ds-backup.run
 * — the file the 2008 scripts locked with `flock -n`, so old and new agents
 * exclude each other. Node has no flock(2), so a child holds it for us:
 *
 *   flock -n -E 75 <file> sh -c 'echo locked; exec cat'
 *
 * (util-linux flock, part of every Debian/Fedora base system). flock takes
 * the lock without waiting (-n) or exits 75; once it holds it, the child
 * prints "locked" and then `cat` reads our stdin pipe. The lock lives as long
 * as that pipe is open: release() closes it, and if the agent dies in any
 * way — even kill -9 — the kernel closes the pipe, cat sees end-of-file, flock
 * exits and the kernel drops the lock. No pid file, nothing stale to clean.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../../platform/errors.js';

export const LOCK_BUSY_EXIT = 75;

export interface RunLock {
  readonly file: string;
  release(): Promise<void>;
}

/** Takes the lock without waiting; null when another process holds it. */
export function tryLock(file: string): Promise<RunLock | null> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const child = spawn('flock', ['-n', '-E', String(LOCK_BUSY_EXIT), file, 'sh', '-c', 'echo locked; exec cat'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.on('error', () => {});
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    let held = false;
    child.on('error', (e) =>
      reject(new AppError('internal', `cannot take the run lock: flock (util-linux) failed to start: ${e.message}`)),
    );
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (!held && out.includes('locked')) {
        held = true;
        resolve({
          file,
          release: async () => {
            child.stdin.end();
            await exited;
          },
        });
      }
    });
    void exited.then((code) => {
      if (held) return;
      if (code === LOCK_BUSY_EXIT) resolve(null);
      else reject(new AppError('internal', `cannot take the run lock ${file} (flock exited ${code})`));
    });
  });
}
