/**
 * world — a populated server for a torture part: its own root, the server
 * as a child process (WebDAV over HTTP allowed, a metrics token), an admin
 * password and API token, laptops registered and backed up by the real
 * agent CLI, web sessions (student, admin) with their CSRF tokens, and
 * restore checks that compare with the laptop's files byte for byte.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  agent,
  backupJson,
  cleanup,
  fsState,
  JOURNAL_EXCLUDES,
  registered,
  serverCli,
  tmp,
  token,
} from '../../test/helpers/harness.js';
import { WebClient } from '../../test/helpers/web-client.js';
import { spawnServer, type ServerProc } from './proc.js';

export const ADMIN_PASSWORD = 'torture admin password';
export const METRICS_TOKEN = 'torture-metrics-token-0123456789';

export interface Laptop {
  serial: string;
  profile: string;
  token: string;
  code: string;
}

export interface World {
  root: string;
  srv: ServerProc;
  adminToken: string;
  laptops: Map<string, Laptop>;
  /** Restarts the server on the same port (after kill9/stop, or to replace it). */
  restart(): Promise<ServerProc>;
  close(): Promise<void>;
}

export interface LaptopSpec {
  serial: string;
  entries?: number;
  documents?: boolean;
  backup?: boolean;
}

export async function makeWorld(
  tag: string,
  specs: LaptopSpec[],
  opts: { root?: string; args?: string[] } = {},
): Promise<World> {
  const root = opts.root ?? tmp(`torture-${tag}`);
  const pw = join(root, '..', `${tag}-${process.pid}-pw`);
  writeFileSync(pw, ADMIN_PASSWORD);
  const set = await serverCli(['admin-password', '--root', root, '--password-file', pw]);
  cleanup(pw);
  if (set.code !== 0) throw new Error(`admin-password: ${set.stderr}`);
  const tok = await serverCli(['admin-token', '--root', root]);
  if (tok.code !== 0) throw new Error(`admin-token: ${tok.stderr}`);
  const args = ['--dav-allow-http', '--metrics-token', METRICS_TOKEN, ...(opts.args ?? [])];
  const w: World = {
    root,
    srv: await spawnServer(root, { args }),
    adminToken: tok.stdout.trim(),
    laptops: new Map(),
    async restart() {
      await w.srv.stop();
      w.srv = await spawnServer(root, { port: w.srv.port, args });
      return w.srv;
    },
    async close() {
      await w.srv.stop();
      cleanup(root, ...[...w.laptops.values()].map((l) => l.profile));
    },
  };
  for (const s of specs) await addLaptop(w, s);
  return w;
}

export async function addLaptop(w: World, s: LaptopSpec): Promise<Laptop> {
  const l = await registered(w.srv.url, s.serial, { entries: s.entries ?? 6, documents: s.documents ?? true });
  if (s.backup !== false) await backupJson(l.profile);
  const tk = token(l.profile);
  const res = await fetch(`${w.srv.url}/api/v1/restore-code`, { headers: { authorization: `Bearer ${tk}` } });
  const code = ((await res.json()) as { restoreCode: string }).restoreCode;
  const lap = { serial: s.serial, profile: l.profile, token: tk, code };
  w.laptops.set(s.serial, lap);
  return lap;
}

export interface Session {
  client: WebClient;
  csrf: string;
}

/** A student signed in through the laptop's one-time link, with a CSRF token from one of their pages. */
export async function studentSession(w: World, lap: Laptop): Promise<Session> {
  const res = await fetch(`${w.srv.url}/api/v1/web-links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${lap.token}` },
  });
  if (res.status !== 200 && res.status !== 201) throw new Error(`web-links: ${res.status}`);
  const { path } = (await res.json()) as { path: string };
  const client = new WebClient(w.srv.url);
  await client.get(path);
  const page = await client.text(`/ui/j/${lap.serial}/backups`);
  return { client, csrf: /name="_csrf" value="([^"]*)"/.exec(page)?.[1] ?? '' };
}

export async function adminSession(w: World): Promise<Session> {
  const client = new WebClient(w.srv.url);
  const page = await client.text('/ui/admin/login');
  const r = await client.post('/ui/admin/login', { _csrf: WebClient.csrf(page), password: ADMIN_PASSWORD });
  if (r.status !== 303) throw new Error(`admin sign-in: ${r.status}`);
  const home = await client.text('/ui/admin');
  return { client, csrf: /name="_csrf" value="([^"]*)"/.exec(home)?.[1] ?? '' };
}

/** Disables a laptop through the admin's form, as an admin would. */
export async function disableLaptop(w: World, serial: string): Promise<void> {
  const a = await adminSession(w);
  const page = await a.client.text(`/ui/admin/laptops/${serial}`);
  const r = await a.client.post(`/ui/admin/laptops/${serial}/enable`, { _csrf: WebClient.csrf(page), enabled: '0' });
  if (r.status !== 303) throw new Error(`disable ${serial}: ${r.status}`);
}

export interface ListedSnapshot {
  name: string;
  source: string;
}

/** The laptop's snapshots as the server lists them to it (GET /api/v1/snapshots, what `ds-backup list` shows). */
export async function listSnapshots(lap: Laptop, url?: string): Promise<ListedSnapshot[]> {
  const server =
    url ??
    (JSON.parse(readFileSync(join(lap.profile, 'ds-backup', 'config.json'), 'utf8')) as { server: string }).server;
  const r = await fetch(`${server}/api/v1/snapshots`, { headers: { authorization: `Bearer ${lap.token}` } });
  if (r.status !== 200) throw new Error(`list ${lap.serial}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { snapshots: ListedSnapshot[] }).snapshots;
}

/** Runs `fn` over `items`, `n` at a time. */
export async function parallel<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let k = i++; k < items.length; k = i++) await fn(items[k]);
    }),
  );
}

/** What a snapshot of `source` must hold: the profile's folder as restore writes it. */
export function sourceState(profile: string, source: string): Map<string, string> {
  return source === 'datastore'
    ? fsState(join(profile, 'datastore'), JOURNAL_EXCLUDES)
    : fsState(join(profile, 'Documents'));
}

/**
 * Restores one snapshot with the real agent into a scratch folder and
 * returns the differences from `expected` (empty = byte for byte), or throws
 * when the agent fails.
 */
export async function restoreDiff(lap: Laptop, snap: ListedSnapshot, expected: Map<string, string>): Promise<string[]> {
  const out = tmp('torture-restore');
  try {
    const r = await agent(['restore', '--profile', lap.profile, '--all', '--snapshot', snap.name, '--to', out]);
    if (r.code !== 0) throw new Error(`restore ${lap.serial} ${snap.name} (${r.code}): ${r.stderr.trim()}`);
    return diffStates(expected, fsState(join(out, snap.source)));
  } finally {
    cleanup(out);
  }
}

export function diffStates(want: Map<string, string>, got: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of want) if (got.get(k) !== v) out.push(`${k}: want ${v}, got ${got.get(k) ?? 'nothing'}`);
  for (const k of got.keys()) if (!want.has(k)) out.push(`${k}: not in the snapshot`);
  return out.slice(0, 10);
}
