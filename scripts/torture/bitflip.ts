/**
 * bitflip — part 4: one bit flipped in pool blobs, chunks of a big file and
 * trees of a laptop's snapshots (the files themselves, as a failing disk
 * would). Then `verify` must name every damaged object, and no read path may
 * serve wrong bytes: the agent's restore, the web's file download and the
 * Documents download, and WebDAV GET either refuse (an error status or a
 * cut connection) or give bytes that are one of the laptop's real files.
 * The flips are undone after each trial and verify must be clean again.
 */
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseChunkList } from '../../src/protocol/chunked.js';
import { entryKind, entryName, entryRef, type Tree } from '../../src/protocol/tree.js';
import { agent, backupJson, cleanup, serverCli, tmp } from '../../test/helpers/harness.js';
import { aimAt } from './catalog-peek.js';
import { Rng } from './rng.js';
import { Tally, type PartResult } from './tally.js';
import { addLaptop, makeWorld, studentSession, type Laptop, type Session, type World } from './world.js';

const SN = 'SHT0000031';
type Kind = 'blob' | 'chunk' | 'tree';
interface Obj {
  id: string;
  kind: Kind;
  path: string;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every object the laptop's snapshots reach, by kind, read from the store's files. */
function objectsOf(root: string, snapRoots: string[]): Obj[] {
  const out = new Map<string, Obj>();
  const treePath = (id: string) => join(root, 'trees', id.slice(0, 2), id);
  const blobPath = (id: string) => join(root, 'pool', id.slice(0, 2), id);
  const stack = [...snapRoots];
  while (stack.length) {
    const id = stack.pop()!;
    if (out.has(id)) continue;
    out.set(id, { id, kind: 'tree', path: treePath(id) });
    const t = JSON.parse(readFileSync(treePath(id), 'utf8')) as Tree;
    for (const e of t.e) {
      const k = entryKind(e);
      if (k === 'd') stack.push(entryRef(e));
      else if (k === 'f') out.set(entryRef(e), { id: entryRef(e), kind: 'blob', path: blobPath(entryRef(e)) });
      else if (k === 'c')
        for (const [c] of parseChunkList(entryRef(e)).chunks) out.set(c, { id: c, kind: 'chunk', path: blobPath(c) });
    }
    void entryName;
  }
  return [...out.values()];
}

/** sha256 of every file the laptop holds (Journal and Documents): the only bytes a reader may serve. */
function genuine(profile: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true }))
      if (n.isDirectory()) walk(join(d, n.name));
      else if (n.isFile()) out.add(sha(readFileSync(join(d, n.name))));
  };
  walk(join(profile, 'datastore'));
  walk(join(profile, 'Documents'));
  return out;
}

function flip(o: Obj, rng: Rng): Buffer {
  const orig = readFileSync(o.path);
  const bad = Buffer.from(orig);
  const i = rng.int(Math.max(1, bad.length));
  if (bad.length) bad[i] ^= 1 << rng.int(8);
  else return orig;
  const st = statSync(o.path);
  chmodSync(o.path, 0o644);
  writeFileSync(o.path, bad);
  chmodSync(o.path, st.mode & 0o777);
  return orig;
}

function unflip(o: Obj, orig: Buffer): void {
  const st = statSync(o.path);
  chmodSync(o.path, 0o644);
  writeFileSync(o.path, orig);
  chmodSync(o.path, st.mode & 0o777);
}

async function verifyIds(root: string): Promise<Set<string>> {
  const r = await serverCli(['verify', '--root', root, '--json']);
  if (r.code !== 0 && r.code !== 1) throw new Error(`verify failed to run (${r.code}): ${r.stderr}`);
  return new Set((JSON.parse(r.stdout) as { damaged: Array<{ id: string }> }).damaged.map((d) => d.id));
}

/** GETs a URL; the bytes when the whole answer arrived with 200, else null (refused or cut). */
async function fetched(url: string, headers: Record<string, string>): Promise<{ status: number; body: Buffer | null }> {
  const r = await fetch(url, { headers });
  try {
    const body = Buffer.from(await r.arrayBuffer());
    return { status: r.status, body: r.status === 200 ? body : null };
  } catch {
    return { status: r.status, body: null };
  }
}

interface Reader {
  what: string;
  url: string;
  headers: Record<string, string>;
}

async function readers(w: World, lap: Laptop, sess: Session): Promise<Reader[]> {
  const cookie = { cookie: [...sess.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  const out: Reader[] = [];
  for (const e of aimAt(w.root, SN).entries)
    if (e.dataBlob)
      out.push({ what: `web data of entry ${e.uid}`, url: `${w.srv.url}/ui/j/${SN}/v/${e.id}/data`, headers: cookie });
  const auth = { authorization: `Basic ${Buffer.from(`${SN}:${lap.code}`).toString('base64')}` };
  for (const dir of [`/dav/${SN}/latest/`, `/dav/${SN}/Documents/`]) {
    const r = await fetch(`${w.srv.url}${dir}`, { method: 'PROPFIND', headers: { ...auth, depth: '1' } });
    for (const m of (await r.text()).matchAll(/<D:href>([^<]+[^/])<\/D:href>/gi))
      out.push({ what: `WebDAV GET ${m[1]}`, url: `${w.srv.url}${m[1]}`, headers: auth });
  }
  const snaps = aimAt(w.root, SN).snapshotNames.filter((n) => n.startsWith('documents-'));
  for (const name of snaps.slice(-1))
    for (const f of readdirSync(join(lap.profile, 'Documents')))
      out.push({
        what: `web Documents file ${f}`,
        url: `${w.srv.url}/ui/j/${SN}/docs/${SN}/${encodeURIComponent(name)}/file?path=${encodeURIComponent(f)}`,
        headers: cookie,
      });
  return out;
}

export async function runBitflip(o: { seed: string; trials: number; log: (l: string) => void }): Promise<PartResult> {
  const t = new Tally('bitflip', o.seed, o.log);
  const rng = new Rng(`${o.seed}/bitflip`);
  const w = await makeWorld('bitflip', []);
  try {
    const lap = await addLaptop(w, { serial: SN, entries: 12, documents: true, backup: false });
    writeFileSync(join(lap.profile, 'Documents', 'big.bin'), randomBytes(1_500_000));
    writeFileSync(join(lap.profile, 'Documents', 'small.txt'), 'a small document\n');
    await backupJson(lap.profile);
    const snaps = (await (
      await fetch(`${w.srv.url}/api/v1/snapshots`, { headers: { authorization: `Bearer ${lap.token}` } })
    ).json()) as {
      snapshots: Array<{ root: string }>;
    };
    const objs = objectsOf(
      w.root,
      snaps.snapshots.map((s) => s.root),
    );
    const real = genuine(lap.profile);
    const sess = await studentSession(w, lap);
    const reads = await readers(w, lap, sess);
    t.count('objects', objs.length);
    t.count('readPaths', reads.length + 1);
    if ((await verifyIds(w.root)).size) t.fail('verify reports damage before any flip', '--parts bitflip');
    for (let i = 0; i < o.trials; i++) {
      const r = rng.fork(`trial${i}`);
      const picks = new Map<string, Obj>();
      for (let k = r.range(1, 3); k > 0; k--) {
        const kind = r.pick(['blob', 'chunk', 'tree'] as const);
        const of = objs.filter((x) => x.kind === kind);
        if (of.length) picks.set(r.pick(of).id, r.pick(of));
      }
      const flipped = [...new Map([...picks.values()].map((x) => [x.id, x])).values()];
      const repro = `--parts bitflip --trials ${i + 1}  # trial ${i}: flipped ${flipped.map((x) => `${x.kind} ${x.id.slice(0, 12)}`).join(', ')}`;
      const originals = flipped.map((x) => flip(x, r));
      try {
        await t.check(repro, async () => {
          const found = await verifyIds(w.root);
          for (const x of flipped) {
            t.count(`flipped ${x.kind}`);
            if (found.has(x.id)) t.count('verifyFound');
            else throw new Error(`verify did not report the flipped ${x.kind} ${x.id}`);
          }
        });
        await t.check(repro, async () => {
          const out = tmp('torture-flip-restore');
          try {
            const res = await agent(['restore', '--profile', lap.profile, '--all', '--to', out]);
            t.count(res.code === 0 ? 'agentRestoreOk' : 'agentRestoreRefused');
            for (const bad of servedWrong(out, real)) throw new Error(`agent restore wrote wrong bytes: ${bad}`);
          } finally {
            cleanup(out);
          }
        });
        for (const rd of reads) {
          const got = await fetched(rd.url, rd.headers);
          t.count(got.body ? 'served' : 'refused');
          if (got.body && !real.has(sha(got.body)))
            t.fail(`${rd.what}: 200 with bytes that are none of the laptop's files`, repro);
        }
      } finally {
        flipped.forEach((x, k) => unflip(x, originals[k]));
      }
      t.count('trials');
    }
    if ((await verifyIds(w.root)).size)
      t.fail('verify still reports damage after the flips were undone', '--parts bitflip');
  } finally {
    await w.close();
  }
  return t.result();
}

/** Files under `dir` whose bytes are none of the laptop's real files. */
function servedWrong(dir: string, real: Set<string>): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true }))
      if (n.isDirectory()) walk(join(d, n.name));
      else if (n.isFile() && !real.has(sha(readFileSync(join(d, n.name))))) out.push(join(d, n.name));
  };
  walk(dir);
  return out;
}
