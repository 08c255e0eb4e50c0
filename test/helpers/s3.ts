/**
 * s3 — a real S3 endpoint for a test file: OpenStack Swift with s3api
 * (scripts/s3/swift-s3.sh) on free loopback ports with a temp $S3LAB, started
 * once before the file's tests and stopped after them.
 *
 * `s3ForSuite()` returns a handle whose `env` holds the standard AWS_*
 * variables for the endpoint and whose `skip` is a reason (string) when Swift
 * cannot run here (packages missing and not installable) — pass it to
 * `test(name, { skip: s3.skip }, …)` after `before` ran, or check it.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before } from 'node:test';
import { join } from 'node:path';
import { REPO, cleanup, tmp } from './harness.js';

export interface S3Lab {
  env: Record<string, string>;
  endpoint: string;
  lab: string;
  /** Why the S3 tests cannot run here, or '' when they can. */
  skip: string;
}

const SCRIPT = join(REPO, 'scripts', 's3', 'swift-s3.sh');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

function script(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile(
      'bash',
      [SCRIPT, ...args],
      { env: { ...process.env, ...env }, timeout: 180_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        res({ code, out: stdout + stderr });
      },
    );
  });
}

export async function startS3(): Promise<S3Lab & { stop(): Promise<void> }> {
  const lab = tmp('s3lab');
  const ports: number[] = [];
  while (ports.length < 5) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const [PROXY_PORT, OBJ_PORT, CONT_PORT, ACCT_PORT, MC_PORT] = ports.map(String);
  const labEnv = { S3LAB: lab, PROXY_PORT, OBJ_PORT, CONT_PORT, ACCT_PORT, MC_PORT };
  const endpoint = `http://127.0.0.1:${PROXY_PORT}`;
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test:tester',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
  const r = await script(['--fresh'], labEnv);
  const stop = async () => {
    await script(['stop'], labEnv);
    cleanup(lab);
  };
  if (r.code === 3) return { env, endpoint, lab, skip: `no Swift here: ${r.out.trim()}`, stop };
  if (r.code !== 0) {
    await stop();
    throw new Error(`swift-s3.sh failed (${r.code}): ${r.out}`);
  }
  return { env, endpoint, lab, skip: '', stop };
}

/**
 * One S3 endpoint for the current test file; the handle is filled in before
 * the tests run, then `ready` runs (top-level before hooks do not wait for
 * each other, so set-up that needs the endpoint goes there).
 */
export function s3ForSuite(ready?: (s: S3Lab) => Promise<void> | void): S3Lab {
  const handle: S3Lab = { env: {}, endpoint: '', lab: '', skip: '' };
  let stop: () => Promise<void> = async () => {};
  before(async () => {
    const s = await startS3();
    Object.assign(handle, { env: s.env, endpoint: s.endpoint, lab: s.lab, skip: s.skip });
    stop = s.stop;
    if (!s.skip) await ready?.(handle);
  });
  after(async () => stop());
  return handle;
}
