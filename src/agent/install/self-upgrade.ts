/**
 * self-upgrade — an installed agent (installed.ts) replaces itself with the
 * newer one its school server hands out, so a school upgrades every laptop by
 * upgrading its server.
 *
 * The server's ping answer carries {agent: {version, sha256, path}}
 * (src/server/http/agent-dist/). After a backup attempt, `ds-backup run`
 * (holding the run lock) calls selfUpgrade():
 *   1. nothing unless this agent was installed by the script, the offer is
 *      well formed and its version is newer than this agent's;
 *   2. download server+path into the install folder, hashing as it arrives
 *      (at most 64 MiB); a SHA-256 other than the offer's → deleted, refused;
 *   3. flush, rename to agent-<sha[:16]>.mjs (atomic, beside the old one);
 *   4. `node agent-….mjs --version` must print the offered version within a
 *      minute, else the new file is deleted and the old agent stays current;
 *   5. current.mjs is switched to the new file (symlink rename, atomic);
 *      bundles other than the new and the previous one are removed.
 * Never throws: every failure is one log line and the old agent keeps working.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsyncDir, replaceSymlink } from '../../platform/durable.js';
import { AGENT_VERSION, compareVersions } from '../version.js';
import { bundleName, CURRENT, installation, type Installation } from './installed.js';

import type { AgentOffer } from '../../protocol/api-types.js';

export interface UpgradeOutcome {
  result: 'not-installed' | 'current' | 'upgraded' | 'refused' | 'failed';
  reason: string;
}

const MAX_BYTES = 64 * 1024 * 1024;

/** The ping answer's `agent` field, checked: nothing the server sends is trusted. */
export function parseOffer(v: unknown): AgentOffer | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const ok =
    typeof o.version === 'string' &&
    /^[0-9A-Za-z.+-]{1,40}$/.test(o.version) &&
    typeof o.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(o.sha256) &&
    typeof o.path === 'string' &&
    /^\/agent\/[\w.-]{1,100}$/.test(o.path);
  return ok ? { version: o.version as string, sha256: o.sha256 as string, path: o.path as string } : null;
}

/** Downloads url into `file`, hashing as it goes; answers the SHA-256. */
async function download(url: string, file: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(300_000) });
  if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
  const hash = createHash('sha256');
  const fh = await open(file, 'wx', 0o644);
  try {
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > MAX_BYTES) throw new Error(`${url} is larger than ${MAX_BYTES} bytes`);
      hash.update(chunk);
      await fh.write(chunk);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** Runs `node bundle --version`; answers what it printed, or throws. */
function startsAs(bundle: string): Promise<string> {
  return new Promise((ok, fail) => {
    execFile(process.execPath, [bundle, '--version'], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${basename(bundle)} does not start: ${(stderr || err.message).trim().split('\n')[0]}`));
      else ok(stdout.trim());
    });
  });
}

function prune(inst: Installation, keep: string[]): void {
  for (const name of readdirSync(inst.dir)) {
    const stale = /^agent-[0-9a-f]{16}\.mjs$/.test(name) && !keep.includes(name);
    if (stale || /^\.download-/.test(name)) unlinkSync(join(inst.dir, name));
  }
}

async function upgrade(inst: Installation, server: string, offer: AgentOffer): Promise<UpgradeOutcome> {
  const target = join(inst.dir, bundleName(offer.sha256));
  if (target === inst.bundle) return { result: 'current', reason: 'already running this bundle' };
  const tmp = join(inst.dir, `.download-${randomBytes(6).toString('hex')}`);
  const url = new URL(offer.path, server.replace(/\/?$/, '/')).href;
  try {
    const got = await download(url, tmp);
    if (got !== offer.sha256)
      return { result: 'refused', reason: `${url} has SHA-256 ${got}, the server announced ${offer.sha256}` };
    renameSync(tmp, target);
    fsyncDir(inst.dir);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* renamed, or never made */
    }
  }
  try {
    const printed = await startsAs(target);
    if (printed !== offer.version) throw new Error(`it says it is version ${JSON.stringify(printed)}`);
  } catch (e) {
    unlinkSync(target);
    return { result: 'failed', reason: `the new agent ${offer.version}: ${(e as Error).message}` };
  }
  replaceSymlink(basename(target), join(inst.dir, CURRENT));
  prune(inst, [basename(target), basename(inst.bundle)]);
  return { result: 'upgraded', reason: `${AGENT_VERSION} → ${offer.version}` };
}

/** Upgrades this agent if it was installed by the script and the server serves a newer one. Never throws. */
export async function selfUpgrade(
  server: string,
  offered: unknown,
  log: (line: string) => void,
  inst: Installation | null = installation(),
): Promise<UpgradeOutcome> {
  if (!inst) return { result: 'not-installed', reason: 'not installed by the school server script' };
  const offer = parseOffer(offered);
  if (!offer) return { result: 'current', reason: 'the server offers no agent' };
  if (compareVersions(offer.version, AGENT_VERSION) <= 0)
    return { result: 'current', reason: `this agent (${AGENT_VERSION}) is not older than the server's` };
  let r: UpgradeOutcome;
  try {
    r = await upgrade(inst, server, offer);
  } catch (e) {
    r = { result: 'failed', reason: (e as Error).message };
  }
  if (r.result === 'upgraded') log(`upgraded the agent: ${r.reason}`);
  else log(`agent upgrade to ${offer.version} ${r.result}: ${r.reason}; this agent (${AGENT_VERSION}) stays`);
  return r;
}
