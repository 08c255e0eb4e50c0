/**
 * install — plumbing for the install-script and self-upgrade tests: a fresh
 * HOME with a generated Sugar profile, the real `curl … | sh` line, the
 * installed launcher, a stand-in `crontab` (this machine has no cron; the
 * stand-in keeps the table in $HOME/crontab.txt) and an HTTP proxy that
 * tampers with one path (a man in the middle).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { writeProfile } from '../../src/journal/gen/generator.js';
import { tmp, type RunResult } from './harness.js';

const FAKE_CRONTAB = `#!/bin/sh
f="$HOME/crontab.txt"
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) cat >"$f" ;;
  *) exit 2 ;;
esac
`;

export interface Laptop {
  home: string;
  profile: string;
  launcher: string;
  dataDir: string;
  env: Record<string, string>;
}

/**
 * A fresh HOME with ~/.sugar/default (a small Journal). The environment is
 * built from scratch (no DSB_*, XDG_* or SUGAR_* of the test runner), with no
 * systemd user manager reachable, and with the stand-in crontab unless
 * `cron: false`.
 */
export function freshLaptop(seed: string, opts: { cron?: boolean; path?: string } = {}): Laptop {
  const home = tmp(`home-${seed}`);
  const profile = join(home, '.sugar', 'default');
  writeProfile(profile, { seed, entries: 8 });
  const tools = join(home, 'test-bin');
  mkdirSync(tools);
  if (opts.cron !== false) {
    writeFileSync(join(tools, 'crontab'), FAKE_CRONTAB);
    chmodSync(join(tools, 'crontab'), 0o755);
  }
  const env = {
    HOME: home,
    PATH: opts.path ?? `${tools}:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    XDG_RUNTIME_DIR: join(home, 'no-runtime'), // systemctl --user cannot connect: cron mode
    LANG: 'C.UTF-8',
  };
  return {
    home,
    profile,
    launcher: join(home, '.local', 'bin', 'ds-backup'),
    dataDir: join(home, '.local', 'share', 'ds-backup'),
    env,
  };
}

function exec(file: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((res) => {
    execFile(file, args, { env, maxBuffer: 16 << 20, timeout: 240_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

/** The line a teacher types: curl -fsSL URL/agent/install | sh, run by the real sh. */
export function installLine(url: string, l: Laptop, extra: Record<string, string> = {}): Promise<RunResult> {
  return exec('/bin/sh', ['-c', 'curl -fsSL "$DSB_TEST_URL/agent/install" | sh'], {
    ...l.env,
    ...extra,
    DSB_TEST_URL: url,
  });
}

/** The installed `ds-backup` command. */
export function launcher(l: Laptop, args: string[]): Promise<RunResult> {
  return exec(l.launcher, args, l.env);
}

export function crontabOf(l: Laptop): string {
  const f = join(l.home, 'crontab.txt');
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

/** A proxy to `target` that flips one byte in the body of GET `path`. */
export async function tamperingProxy(target: string, path: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const up = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      if (req.url !== path) {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
        return;
      }
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () => {
        const body = Buffer.concat(parts);
        body[body.length >> 1] ^= 0x20;
        res.writeHead(r.statusCode ?? 502, { ...r.headers, 'content-length': String(body.length) });
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
