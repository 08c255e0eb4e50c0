/**
 * harness — integration-test plumbing: a real server on a free port with a
 * temp root (in this process), the real agent CLI run as a child process
 * (the built dist/, as a user runs it), and generated laptop profiles.
 *
 * DSB_TEST_STORE=s3: every server started here keeps its objects in a
 * bucket (`--store s3://dsb-test/<root's name>`) of a real Swift started
 * once for the test file (test/helpers/s3.ts; or the endpoint in the AWS_*
 * variables when they are set); the CLIs the tests run find it through the
 * root's store-format.json and the AWS_* variables they inherit.
 */
import { execFile } from 'node:child_process';
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildServer, type BuiltServer } from '../../src/server/http/app.js';
import { DEFAULTS, type ServerConfig } from '../../src/server/config.js';
import { writeProfile, type GenOptions } from '../../src/journal/gen/generator.js';

export const REPO = resolve(import.meta.dirname, '..', '..');

export function tmp(tag: string): string {
  return mkdtempSync(join(tmpdir(), `dsb-${tag}-`));
}

export interface TestServer extends BuiltServer {
  url: string;
  root: string;
  close(): Promise<void>;
}

/** The object store a test server gets: s3://… under DSB_TEST_STORE=s3, else none (its root). */
export const TEST_STORE = process.env.DSB_TEST_STORE === 's3' ? 's3' : 'local';
let s3Lab: Promise<{ stop(): Promise<void> } | null> | null = null;
if (TEST_STORE === 's3') after(async () => (await s3Lab)?.stop());

/** The bucket URL for a new root under DSB_TEST_STORE=s3 (Swift started and the bucket made on first use). */
export async function testStoreUrl(root: string): Promise<string> {
  s3Lab ??= (async () => {
    const { startS3 } = await import('./s3.js');
    let lab: Awaited<ReturnType<typeof startS3>> | null = null;
    if (!process.env.AWS_ENDPOINT_URL) {
      lab = await startS3();
      if (lab.skip) throw new Error(`DSB_TEST_STORE=s3 but ${lab.skip}`);
      Object.assign(process.env, lab.env);
    }
    const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const { makeS3Client } = await import('../../src/server/replica/s3.js');
    await makeS3Client()
      .send(new CreateBucketCommand({ Bucket: 'dsb-test' }))
      .catch((e: { name?: string }) => {
        if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
      });
    return lab;
  })();
  await s3Lab;
  return `s3://dsb-test/${root.split('/').pop()}`;
}

export async function startServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const root = overrides.root ?? tmp('root');
  const store = overrides.store ?? (TEST_STORE === 's3' ? await testStoreUrl(root) : '');
  const built = buildServer(
    { ...DEFAULTS, loadLimit: 1000, root, host: '127.0.0.1', port: 0, store, ...overrides },
    { logger: false },
  );
  const address = await built.app.listen({ port: overrides.port ?? 0, host: '127.0.0.1' });
  return { ...built, url: address, root, close: () => built.app.close() };
}

/**
 * A real server for the current test file or suite: started before its tests
 * (handed to `use`), closed and its root removed after them.
 */
export function serverForSuite(use: (s: TestServer) => void, overrides: Partial<ServerConfig> = {}): void {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(overrides);
    use(srv);
  });
  after(async () => {
    await srv.close();
    cleanup(srv.root);
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Flags of the bin/ shebangs that matter when a test runs node itself (the agent's restore uses `gc`). */
export const NODE_FLAGS = ['--expose-gc'];

function run(bin: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, join(REPO, 'bin', bin), ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        res({ code, stdout, stderr });
      },
    );
  });
}

export const agent = (args: string[], env?: Record<string, string>) => run('ds-backup.js', args, env);
export const serverCli = (args: string[], env?: Record<string, string>) => run('ds-backup-server.js', args, env);

/** A generated laptop: profile folder with datastore/ (and Documents/). */
export function laptop(opts: Partial<GenOptions> & { serial?: string; documents?: boolean } = {}): {
  profile: string;
  summary: ReturnType<typeof writeProfile>;
} {
  const profile = tmp('xo');
  const summary = writeProfile(profile, { seed: 'laptop', entries: 30, ...opts });
  return { profile, summary };
}

export async function registered(url: string, serial: string, opts: Parameters<typeof laptop>[0] = {}) {
  const l = laptop({ seed: serial, ...opts });
  const args = ['register', '--server', url, '--serial', serial, '--nickname', `kid ${serial}`, '--profile', l.profile];
  let r = await agent(args);
  // Every test laptop registers from 127.0.0.1: past the per-address burst (accounts/limits.ts), wait as told.
  for (let wait; r.code !== 0 && (wait = /too many registrations.*retry in (\d+) s/.exec(r.stderr));)
    r = await new Promise<void>((ok) => setTimeout(ok, Number(wait![1]) * 1000)).then(() => agent(args));
  if (r.code !== 0) throw new Error(`register failed: ${r.stderr}`);
  return l;
}

export async function backupJson(profile: string, extra: string[] = []) {
  const r = await agent(['backup', '--profile', profile, '--json', ...extra]);
  if (r.code !== 0) throw new Error(`backup failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as {
    snapshots: Array<{ name: string; source: string; files: number; bytes: number }>;
    files: number;
    bytes: number;
    hashedFiles: number;
    uploadedBlobs: number;
    uploadedBytes: number;
    provenBlobs: number;
    provenBytes: number;
    sentBytes: number;
  };
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

export function token(profile: string): string {
  return (JSON.parse(readFileSync(join(profile, 'ds-backup', 'config.json'), 'utf8')) as { token: string }).token;
}

/**
 * Everything restore must reproduce under `dir`: per path its kind, mode,
 * mtime (ms), and content hash or link target. `skip` names top-level
 * entries left out by design.
 */
export function fsState(dir: string, skip: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      if (!rel && skip.includes(name)) continue;
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        walk(p, r);
        out.set(r, `d ${mode} ${Math.round(st.mtimeMs)}`);
      } else if (st.isSymbolicLink()) out.set(r, `l ${readlinkSync(p)}`);
      else
        out.set(r, `f ${mode} ${Math.round(st.mtimeMs)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir, '');
  return out;
}

/** Asserts that `b` holds exactly what `a` holds (fsState: kinds, modes, mtimes, contents), leaving out `skip` in `a`. */
export function assertSameTree(a: string, b: string, skip: string[] = []): void {
  const x = fsState(a, skip);
  const y = fsState(b);
  assert.deepEqual([...y.keys()].sort(), [...x.keys()].sort(), 'same paths');
  for (const [k, v] of x) assert.equal(y.get(k), v, `same ${k}`);
}

export const JOURNAL_EXCLUDES = ['index', 'index_updated', 'ds_clean', 'checksums'];
