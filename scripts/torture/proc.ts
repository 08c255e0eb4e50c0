/**
 * proc — the server under torture as its own process (bin/ds-backup-server.js
 * serve, the built dist/, as an operator runs it), so a crash is seen as an
 * exit, memory as the process's RSS, and `kill -9` is real. Restarts reuse
 * the port so agents keep their configured URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../test/helpers/harness.js';

export interface ServerProc {
  proc: ChildProcess;
  url: string;
  port: number;
  pid: number;
  /** Set when the process ended on its own (not by kill9/stop). */
  died: { code: number | null; signal: string | null } | null;
  /** The last 16 KiB the server wrote on stderr. */
  stderr(): string;
  rssMiB(): number;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnServer(root: string, opts: { port?: number; args?: string[] } = {}): Promise<ServerProc> {
  const args = [
    join(REPO, 'bin', 'ds-backup-server.js'),
    'serve',
    '--root',
    root,
    '--host',
    '127.0.0.1',
    '--port',
    String(opts.port ?? 0),
    '--log-level',
    'error',
    '--load-limit',
    '1000',
    '--json',
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-16384)));
  let expected = false;
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":\s*"(http:\/\/[\d.:]+)"/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`server exited ${code} before listening: ${err}`)));
  });
  const s: ServerProc = {
    proc,
    url,
    port: Number(new URL(url).port),
    pid: proc.pid!,
    died: null,
    stderr: () => err,
    rssMiB: () => rssMiB(proc.pid!),
    kill9: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
  proc.on('exit', (code, signal) => {
    if (!expected) s.died = { code, signal };
  });
  function end(sig: NodeJS.Signals): Promise<void> {
    expected = true;
    return new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill(sig);
    });
  }
  return s;
}

/** Resident set size of a process in MiB (0 when it is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `ms` until stopped; the peak and the samples. */
export function rssSampler(pid: number, ms = 100): { peak(): number; stop(): number } {
  let peak = rssMiB(pid);
  const t = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), ms);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(t);
      return peak;
    },
  };
}

/** Kills a child with SIGKILL and waits for it to be gone. */
export function killHard(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  });
}
