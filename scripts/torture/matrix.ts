/**
 * matrix — part 5: every route of the running app's table × every identity
 * (no credentials, a wrong one, another laptop, a disabled laptop, the
 * student's web session, the admin, the laptop itself), each request aimed
 * at laptop A's real resources (its lease, blobs, snapshots, entries, pin),
 * judged against the expected-access table (access.ts). A route without a
 * row fails; a 5xx fails; a refused identity let through fails.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sendRaw, describe, type RawRequest, type RawAnswer } from './http-raw.js';
import { aimAt } from './catalog-peek.js';
import { ACCESS, IDENTITIES, POLICIES, type Expect, type Identity, type Policy } from './access.js';
import { routeTable, routeKey, type Route } from './routes.js';
import { Tally, type PartResult } from './tally.js';
import {
  addLaptop,
  adminSession,
  disableLaptop,
  makeWorld,
  studentSession,
  ADMIN_PASSWORD,
  type Session,
  type World,
} from './world.js';

const A = 'SHT0000011';
const B = 'SHT0000012';
const C = 'SHT0000013';
const D = 'SHT0000014';
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const cookie = (s: Session) => [...s.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

type Family = 'api' | 'web' | 'dav' | 'open';
const familyOf = (url: string): Family =>
  url.startsWith('/api/') || url === '/metrics'
    ? 'api'
    : url.startsWith('/ui')
      ? 'web'
      : url.startsWith('/dav')
        ? 'dav'
        : 'open';

interface Fixture {
  w: World;
  sessions: Record<'A' | 'B' | 'C' | 'admin', Session>;
  blob: string;
  tree: string;
  snapshot: string;
  docSnapshot: string;
  uid: string;
  version: string;
  pin: string;
  docFile: string;
}

async function fixture(): Promise<Fixture> {
  const w = await makeWorld('matrix', [
    { serial: A, entries: 5 },
    { serial: B, entries: 3 },
    { serial: C, entries: 3 },
    { serial: D, entries: 2, backup: false },
  ]);
  const sessions = {
    A: await studentSession(w, w.laptops.get(A)!),
    B: await studentSession(w, w.laptops.get(B)!),
    C: await studentSession(w, w.laptops.get(C)!),
    admin: await adminSession(w),
  };
  await disableLaptop(w, C);
  const aim = aimAt(w.root, A);
  const withData = aim.entries.find((e) => e.dataBlob && !e.dataBlob.includes(','))!;
  const tok = w.laptops.get(A)!.token;
  const snaps = (await (
    await fetch(`${w.srv.url}/api/v1/snapshots`, { headers: { authorization: `Bearer ${tok}` } })
  ).json()) as {
    snapshots: Array<{ name: string; source: string; root: string }>;
  };
  const ds = snaps.snapshots.find((s) => s.source === 'datastore')!;
  const pin = await fetch(`${w.srv.url}/api/v1/pins`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
    body: JSON.stringify({ snapshot: ds.name }),
  });
  if (pin.status !== 201) throw new Error(`pin: ${pin.status}`);
  return {
    w,
    sessions,
    blob: withData.dataBlob!,
    tree: ds.root,
    snapshot: ds.name,
    docSnapshot: snaps.snapshots.find((s) => s.source === 'documents')?.name ?? ds.name,
    uid: withData.uid,
    version: withData.id,
    pin: ((await pin.json()) as { id: string }).id,
    docFile: readdirSync(join(w.laptops.get(A)!.profile, 'Documents')).sort()[0],
  };
}

async function freshLease(f: Fixture): Promise<string> {
  const r = await fetch(`${f.w.srv.url}/api/v1/backups`, {
    method: 'POST',
    headers: { authorization: `Bearer ${f.w.laptops.get(A)!.token}` },
  });
  if (r.status !== 201) throw new Error(`lease: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { lease: string }).lease;
}

function credentials(who: Identity, fam: Family, f: Fixture): Array<[string, string]> {
  const L = (s: string) => f.w.laptops.get(s)!;
  const bearer = (t: string): Array<[string, string]> => [['Authorization', `Bearer ${t}`]];
  const jar = (s: Session): Array<[string, string]> => [['Cookie', cookie(s)]];
  if (who === 'none') return [];
  if (who === 'laptop') return fam === 'dav' ? [['Authorization', `Bearer ${L(A).token}`]] : bearer(L(A).token);
  if (fam === 'dav') {
    const who2 = {
      wrong: ['SHT0000999', '123456'],
      other: [B, L(B).code],
      disabled: [C, L(C).code],
      student: [A, L(A).code],
      admin: ['admin', ADMIN_PASSWORD],
    }[who];
    return [['Authorization', basic(who2[0], who2[1])]];
  }
  if (fam === 'web')
    return {
      wrong: [['Cookie', 'dsb_session=0123456789abcdef0123456789abcdef']] as Array<[string, string]>,
      other: jar(f.sessions.B),
      disabled: jar(f.sessions.C),
      student: jar(f.sessions.A),
      admin: jar(f.sessions.admin),
    }[who];
  return {
    wrong: bearer('0123456789abcdef0123456789abcdef0123456789a'),
    other: bearer(L(B).token),
    disabled: bearer(L(C).token),
    student: jar(f.sessions.A),
    admin: bearer(f.w.adminToken),
  }[who];
}

async function request(route: Route, who: Identity, f: Fixture): Promise<RawRequest> {
  const fam = familyOf(route.url);
  const adminPage = route.url.startsWith('/ui/admin/laptops');
  const needsLease = route.url.includes(':lease');
  const lease = needsLease ? await freshLease(f) : '';
  let path = route.url
    .replace('/docs/:sn/:name', `/docs/${A}/${encodeURIComponent(f.docSnapshot)}`)
    .replace(/:lease/, lease)
    .replace(/:serial|:sn/g, adminPage ? D : A)
    .replace(/:name/, encodeURIComponent(f.snapshot))
    .replace(/:uid/, f.uid)
    .replace(/:token/, '0123456789abcdef')
    .replace('/dav/*', `/dav/${A}/latest/`);
  if (route.url === '/api/v1/pins/:id') path = path.replace(':id', f.pin);
  else if (route.url.startsWith('/ui/')) path = path.replace(':id', f.version);
  else path = path.replace(':id', f.blob);
  if (route.url.endsWith('/docs/:sn/:name/file')) path += `?path=${encodeURIComponent(f.docFile)}`;
  const headers = credentials(who, fam, f);
  let body: Buffer | undefined;
  const json = (v: unknown) => {
    headers.push(['Content-Type', 'application/json']);
    return Buffer.from(JSON.stringify(v));
  };
  const u = route.url;
  const m = route.method;
  if (fam === 'web' && m === 'POST') {
    const s =
      who === 'admin'
        ? f.sessions.admin
        : who === 'other'
          ? f.sessions.B
          : who === 'disabled'
            ? f.sessions.C
            : f.sessions.A;
    headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
    const pin: Record<string, string> =
      route.url === '/ui/j/:serial/pin' ? { kind: 'snapshot', ref: `${A}/${f.snapshot}` } : {};
    body = Buffer.from(new URLSearchParams({ _csrf: s.csrf, ...pin }).toString());
  } else if (u.endsWith('/missing') || u.endsWith('/blobs/fetch')) body = json({ ids: [f.blob] });
  else if (u === '/api/v1/trees') body = json({ ids: [f.tree] });
  else if (u.endsWith(':lease/trees')) body = json({ trees: {} });
  else if (u.endsWith('/proofs')) body = json({ nonce: '0'.repeat(64), proofs: { [f.blob]: '0'.repeat(64) } });
  else if (u.endsWith('/commit')) body = json({ sources: [{ source: 'datastore', root: f.tree, trees: {} }] });
  else if (u === '/api/v1/pins' && m === 'POST') body = json({ snapshot: f.snapshot, serial: A });
  else if (u === '/api/v1/reports') body = json({ outcome: 'skipped', reason: 'auth matrix' });
  else if (u === '/api/v1/devices')
    body = json({ serial: `SHT${String(Date.now() % 1e7).padStart(7, '0')}`, nickname: 'm' });
  else if (u.endsWith('/blobs')) {
    headers.push(['Content-Type', 'application/octet-stream']);
    body = Buffer.alloc(0);
  } else if (u.includes('/uploads/') && m === 'PATCH') {
    headers.push(['Content-Type', 'application/octet-stream'], ['Upload-Offset', '0'], ['Upload-Length', '1']);
    body = Buffer.from('x');
  } else if (u === '/' || u === '/RPC2') {
    if (m === 'POST') {
      headers.push(['Content-Type', 'text/xml']);
      body = Buffer.from('<?xml version="1.0"?><methodCall><methodName>nothing</methodName></methodCall>');
    }
  } else if (m === 'PROPFIND') headers.push(['Depth', '1']);
  return { method: m, path, headers, body };
}

export function outcome(ans: RawAnswer): 'allow' | 'deny' {
  const loc = /\r\nlocation: ([^\r]*)/i.exec(ans.head)?.[1] ?? '';
  // 410: a lease that is not the caller's is answered as gone; 429: sign-in attempts limited.
  if ([401, 403, 404, 405, 410, 429].includes(ans.status)) return 'deny';
  if (ans.status >= 300 && ans.status < 400 && /\/login/.test(loc)) return 'deny';
  return 'allow';
}

export async function runMatrix(o: { seed: string; log: (l: string) => void }): Promise<PartResult> {
  const t = new Tally('matrix', o.seed, o.log);
  const routes = await routeTable();
  const keys = new Set(routes.map(routeKey));
  for (const r of routes)
    if (!(routeKey(r) in ACCESS))
      t.fail(`route ${routeKey(r)} has no row in scripts/torture/access.ts`, '--parts matrix');
  for (const k of Object.keys(ACCESS))
    if (!keys.has(k)) t.fail(`access.ts row ${k} names no route of the server`, '--parts matrix');
  const f = await fixture();
  // Sign-out ends the identity's session: it goes last. Wrong passwords count toward sign-in limits: those identities go last.
  const ordered = [...routes.filter((r) => r.url !== '/ui/logout'), ...routes.filter((r) => r.url === '/ui/logout')];
  const order: Identity[] = ['student', 'admin', 'laptop', 'other', 'disabled', 'none', 'wrong'];
  if (order.length !== IDENTITIES.length) throw new Error('matrix: identity order misses one');
  try {
    for (const who of order)
      for (const r of ordered) {
        const policy: Policy | undefined = ACCESS[routeKey(r)];
        if (!policy) continue;
        const want: Expect = POLICIES[policy][who];
        const req = await request(r, who, f);
        const ans = await sendRaw('127.0.0.1', f.w.srv.port, req, 60_000);
        t.count('requests');
        const got = outcome(ans);
        const line = `${routeKey(r)} as ${who}: ${ans.status} (${policy}: want ${want})`;
        const repro = `--parts matrix  # ${describe(req)}`;
        if (ans.status >= 500 || ans.status === 0) t.fail(`${line}: ${ans.body.subarray(0, 200).toString()}`, repro);
        else if (want !== 'any' && got !== want) t.fail(`${line}, got ${got}`, repro);
        else t.count(`ok ${want}`);
        if (f.w.srv.died) throw new Error(`server died: ${f.w.srv.stderr().slice(-2000)}`);
      }
  } finally {
    await f.w.close();
  }
  t.count('routes', routes.length);
  t.count('identities', IDENTITIES.length);
  void addLaptop;
  return t.result();
}
