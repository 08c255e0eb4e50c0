/**
 * fuzz-gen — one hostile request for a route of the table, drawn from a
 * seeded stream: the route's own method or an odd one, path parameters that
 * are real (so requests reach the handlers) or tricks (../, %2e%2e, NUL,
 * overlong, unicode), any credential, any content type, and a body that is
 * a mutated valid one, malformed, wrong-typed, huge or deep, bad frames, bad
 * Upload-Offset values, broken XML-RPC or form fields with control characters.
 */
import { createHash } from 'node:crypto';
import type { RawRequest } from './http-raw.js';
import type { Rng } from './rng.js';
import type { Route } from './routes.js';

export interface FuzzCtx {
  serial: string;
  otherSerial: string;
  tokens: string[];
  basics: string[];
  cookies: Array<{ cookie: string; csrf: string }>;
  lease(): string;
  blobIds: string[];
  snapshotNames: string[];
  uids: string[];
  versionIds: string[];
  davPaths: string[];
  /** Largest body sent, bytes. */
  hugeBytes: number;
}

export interface Generated {
  req: RawRequest;
  /** What the body is: json, malformed, deep, huge, frames, upload, xmlrpc, form, none… */
  kind: string;
  /** The Content-Type chosen differs from what the route takes. */
  oddType: boolean;
}

const ODD_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'PROPFIND', 'TRACE', 'FOO', 'get'];
const TRICKS = [
  '..',
  '%2e%2e',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%2f..%2f',
  '.',
  '%00',
  'a%00b',
  '%',
  '%zz',
  '%ff%fe',
  '%c0%ae%c0%ae',
  'Ω≈ç√',
  '%F0%9F%98%80',
  '%E2%80%AE',
  '*',
  '~',
  '%20',
  '-1',
  '0',
  '99999999999999999999999',
  'null',
  'undefined',
  '__proto__',
  'constructor',
];

function trick(rng: Rng): string {
  const r = rng.int(10);
  if (r === 0) return 'A'.repeat(rng.pick([256, 4096, 70000]));
  if (r === 1) return encodeURIComponent(String.fromCodePoint(rng.range(1, 0x10ffff)).replace(/[\ud800-\udfff]/g, 'x'));
  return rng.pick(TRICKS);
}

function param(name: string, rng: Rng, c: FuzzCtx): string {
  if (rng.chance(0.3)) return trick(rng);
  switch (name) {
    case 'lease':
      return rng.chance(0.8) ? c.lease() : rng.hex(32);
    case 'id':
      if (rng.chance(0.3) && c.versionIds.length) return rng.pick(c.versionIds);
      return rng.chance(0.7) && c.blobIds.length ? rng.pick(c.blobIds) : rng.hex(64);
    case 'serial':
    case 'sn':
      return rng.pick([c.serial, c.serial, c.otherSerial, c.serial.toLowerCase(), `${c.serial} `]);
    case 'name':
      return rng.chance(0.8) && c.snapshotNames.length ? rng.pick(c.snapshotNames) : 'datastore-2020-01-01_00:00';
    case 'uid':
      return c.uids.length ? rng.pick(c.uids) : rng.hex(36);
    case 'token':
      return rng.hex(rng.pick([8, 43, 64]));
    default:
      return rng.hex(16);
  }
}

function fillPath(url: string, rng: Rng, c: FuzzCtx): string {
  if (url.endsWith('/*')) {
    const base = url.slice(0, -1);
    return (
      base + (rng.chance(0.6) && c.davPaths.length ? rng.pick(c.davPaths) : `${c.serial}/${trick(rng)}/${trick(rng)}`)
    );
  }
  let p = url.replace(/:([A-Za-z]+)/g, (_, n: string) => param(n, rng, c));
  if (rng.chance(0.05)) p = p.replace(/\/$/, '') + '/' + trick(rng);
  if (rng.chance(0.03)) p = p.replace('/', '//');
  if (rng.chance(0.15)) p += '?' + query(rng);
  return p;
}

function query(rng: Rng): string {
  return rng.pick([
    'path=../../../../etc/passwd',
    'path=%2e%2e%2f%2e%2e',
    'path=',
    'path=%00',
    `path=${'a/'.repeat(3000)}`,
    'page=-1',
    'page=99999999999999999999',
    'page=abc',
    `q=${'x'.repeat(10000)}`,
    'q=%ff',
    'kind=../../',
    'from=not-a-date&to=2099-99-99',
    'a=1&a=2&a[]=3&a[b]=4',
    'next=//evil.example/',
    'next=javascript:alert(1)',
    'lang=../../etc',
    'filter=%0d%0aSet-Cookie:x=1',
    'done=1&sn=%0d%0a',
    'wrong=1',
  ]);
}

const hex64 = (rng: Rng) => rng.hex(64);

/** A plausible JSON body for a route (what the agent would send), before mutation. */
function template(url: string, rng: Rng, c: FuzzCtx): unknown {
  if (/\/(missing|trees|fetch)$/.test(url) && !url.includes(':lease/trees'))
    return {
      ids: Array.from({ length: rng.range(0, 5) }, () =>
        rng.chance(0.5) && c.blobIds.length ? rng.pick(c.blobIds) : hex64(rng),
      ),
    };
  if (url.endsWith(':lease/trees')) return { trees: { [hex64(rng)]: '{"v":1,"e":[]}' } };
  if (url.endsWith('/commit'))
    return {
      sources: [
        {
          source: rng.pick(['datastore', 'documents', 'x']),
          root: hex64(rng),
          trees: { [hex64(rng)]: JSON.stringify({ v: 1, e: [['a', 'f', 0o644, 0, 1, hex64(rng)]] }) },
        },
      ],
    };
  if (url.endsWith('/devices'))
    return { serial: rng.pick([c.serial, c.otherSerial, 'SHC' + rng.hex(8).toUpperCase()]), nickname: 'kid' };
  if (url.endsWith('/pins'))
    return rng.chance(0.5)
      ? { snapshot: rng.pick(c.snapshotNames.concat('x')) }
      : { entry: rng.pick(c.uids.concat('x')) };
  if (url.endsWith('/reports')) return { outcome: rng.pick(['failed', 'busy', 'skipped', 'other']), reason: 'torture' };
  return { a: 1 };
}

const WRONG: Array<(rng: Rng) => unknown> = [
  () => null,
  () => 0,
  () => -1,
  () => 1e308,
  () => true,
  () => [],
  () => ({}),
  () => '',
  (r) => 'x'.repeat(r.pick([10, 5000, 100000])),
  () => '\u0000\r\n\u202e<script>',
  () => ({ __proto__: { admin: true } }),
  () => [[[[[]]]]],
];

function mutate(v: unknown, rng: Rng, depth = 0): unknown {
  if (depth > 6 || rng.chance(0.15)) return rng.pick(WRONG)(rng);
  if (Array.isArray(v)) return v.map((x) => (rng.chance(0.4) ? mutate(x, rng, depth + 1) : x));
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (rng.chance(0.1)) continue;
      o[k] = rng.chance(0.4) ? mutate(x, rng, depth + 1) : x;
    }
    if (rng.chance(0.2)) o[rng.pick(['extra', '__proto__', 'constructor', ''])] = rng.pick(WRONG)(rng);
    return o;
  }
  return rng.chance(0.5) ? rng.pick(WRONG)(rng) : v;
}

function deep(rng: Rng): Buffer {
  const n = rng.pick([1000, 10000, 100000, 500000]);
  return rng.chance(0.5)
    ? Buffer.from('['.repeat(n) + ']'.repeat(n))
    : Buffer.from('{"a":'.repeat(n) + '1' + '}'.repeat(n));
}

function huge(rng: Rng, c: FuzzCtx): Buffer {
  const n = rng.range(1, c.hugeBytes);
  return rng.chance(0.5)
    ? Buffer.from(JSON.stringify({ ids: Array(Math.floor(n / 67)).fill('a'.repeat(64)) }))
    : Buffer.alloc(n, 0x20);
}

function malformed(rng: Rng, ok: Buffer): Buffer {
  switch (rng.int(8)) {
    case 0:
      return ok.subarray(0, rng.int(ok.length));
    case 1:
      return rng.bytes(rng.range(1, 2000));
    case 2:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), ok]);
    case 3:
      return Buffer.from(ok.toString('utf8'), 'utf16le');
    case 4:
      return Buffer.from('{"ids":[1e999999],"ids":{"__proto__":{}}}');
    case 5:
      return Buffer.from(`{"a":"\\ud800\\udfff\\u0000", "b": 01, "c": .5}`);
    case 6:
      return Buffer.from('null');
    default:
      return Buffer.from(rng.pick(['"string"', '123', 'true', '[]', '{}', '{', '}', '']));
  }
}

/** Framed blobs (protocol/frames.ts: 32-byte sha256, 1 flag byte, 4-byte length, data), valid or broken. */
function frames(rng: Rng): Buffer {
  const parts: Buffer[] = [];
  for (let i = rng.range(0, 4); i > 0; i--) {
    const data = rng.bytes(rng.pick([0, 1, 100, 5000]));
    const h = Buffer.alloc(37);
    const hash = createHash('sha256').update(data).digest();
    (rng.chance(0.7) ? hash : rng.bytes(32)).copy(h, 0);
    h[32] = rng.chance(0.8) ? 0 : rng.int(256);
    const len = rng.chance(0.8) ? data.length : rng.pick([0, data.length + 1, 0xffffffff, 2 ** 31]);
    h.writeUInt32BE(len >>> 0, 33);
    parts.push(h, data);
  }
  if (rng.chance(0.3)) parts.push(rng.bytes(rng.range(1, 36)));
  return Buffer.concat(parts);
}

const OFFSETS = [
  '0',
  '-1',
  '1',
  'abc',
  '',
  '1e3',
  '99999999999999999999',
  '0x10',
  ' 1',
  '1.5',
  '+1',
  '9007199254740993',
  '0,0',
];

function xmlrpc(rng: Rng, c: FuzzCtx): Buffer {
  const sn = rng.pick([c.serial, c.otherSerial, 'SHC' + rng.hex(8).toUpperCase(), trick(rng)]);
  const params = [
    sn,
    'nick',
    rng.hex(36),
    rng.pick(['AAAAB3NzaC1yc2EAAAADAQABAAABAQ', 'ssh-rsa !!!', 'x'.repeat(20000), '']),
  ];
  const v = (s: string) => `<param><value><string>${s}</string></value></param>`;
  switch (rng.int(7)) {
    case 0:
      return Buffer.from(
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><methodCall><methodName>register</methodName><params><param><value>&b;</value></param></params></methodCall>',
      );
    case 1:
      return Buffer.from(
        `<methodCall><methodName>${rng.pick(['system.listMethods', 'register', '', 'x'.repeat(3000)])}</methodName></methodCall>`,
      );
    case 2:
      return Buffer.from('<methodCall>' + '<value><array><data>'.repeat(rng.pick([100, 5000])) + '</methodCall>');
    case 3:
      return rng.bytes(rng.range(1, 3000));
    case 4:
      return Buffer.from(
        `<methodCall><methodName>register</methodName><params><param><value><int>${rng.pick(['1', '99999999999999999999', 'x'])}</int></value></param></params></methodCall>`,
      );
    default:
      return Buffer.from(
        `<?xml version="1.0"?><methodCall><methodName>register</methodName><params>${params.slice(0, rng.range(0, 4)).map(v).join('')}</params></methodCall>`,
      );
  }
}

function form(rng: Rng, csrf: string, c: FuzzCtx): Buffer {
  const weird = () =>
    rng.pick(['\r\nSet-Cookie: x=1', '\u0000', 'x'.repeat(rng.pick([100, 70000])), 'Ω', '', '<script>']);
  const f: Array<[string, string]> = [['_csrf', rng.chance(0.7) ? csrf : weird()]];
  for (const k of [
    'password',
    'serial',
    'code',
    'enabled',
    'archived',
    'confirm',
    'newSerial',
    'snapshot',
    'uid',
    'version',
    'next',
  ])
    if (rng.chance(0.3)) f.push([k, rng.chance(0.5) ? weird() : rng.pick([c.serial, '0', '1', '123456'])]);
  if (rng.chance(0.1)) for (let i = 0; i < 2000; i++) f.push([`k${i}`, 'v']);
  return Buffer.from(new URLSearchParams(f).toString());
}

const PROPFIND = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';

function natural(url: string, method: string): string {
  if (url.endsWith('/blobs') || (url.includes('/uploads/') && method === 'PATCH')) return 'application/octet-stream';
  if (url === '/' || url === '/RPC2') return 'text/xml';
  if (url.startsWith('/ui')) return 'application/x-www-form-urlencoded';
  if (url.startsWith('/dav')) return 'application/xml';
  return 'application/json';
}

const TYPES = [
  'text/plain',
  'application/json; charset=latin1',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----x',
  'application/octet-stream',
  'application/xml',
  'application/json, text/html',
  'x'.repeat(3000),
  'application/json\t',
  'APPLICATION/JSON',
];

export function generate(route: Route, rng: Rng, c: FuzzCtx): Generated {
  const method = rng.chance(0.8) ? route.method : rng.pick(ODD_METHODS);
  const path = rng.chance(0.02)
    ? rng.pick(['/../../etc/passwd', '/%2e%2e/%2e%2e/', '/api/v1/', '//', '/ui/j/', '/api/v1/backups/'])
    : fillPath(route.url, rng, c);
  const headers: Array<[string, string]> = [];
  // Mostly the credential the route family takes (so requests reach the handlers), else any.
  const fam = route.url.startsWith('/ui') ? 3 : route.url.startsWith('/dav') ? 4 : 1;
  const cred = rng.chance(0.6) ? fam : rng.int(6);
  const session = rng.pick(c.cookies);
  // Never laptop A's own token to registration: re-registering rotates it, and the checks after the fuzz use it.
  const tokens = route.url === '/api/v1/devices' ? c.tokens.slice(2) : c.tokens;
  if (cred === 1 || cred === 2) headers.push(['Authorization', `Bearer ${rng.pick(tokens)}`]);
  if (cred === 3) headers.push(['Cookie', session.cookie]);
  if (cred === 4) headers.push(['Authorization', rng.pick(c.basics)]);
  if (cred === 5)
    headers.push([
      'Authorization',
      rng.pick([
        'Bearer',
        'Basic !!!',
        'Bearer ' + 'x'.repeat(9000),
        'Basic ' + Buffer.from(':').toString('base64'),
        'Digest x',
      ]),
    ]);
  if (rng.chance(0.05))
    headers.push(['Cookie', rng.pick(['dsb_session=' + 'x'.repeat(5000), 'a', '=;=;', 'dsb_session=%zz'])]);
  if (rng.chance(0.1))
    headers.push([
      'Range',
      rng.pick([
        'bytes=0-10',
        'bytes=5-1',
        'bytes=-0',
        'bytes=999999999999-',
        'bytes=0-0,1-1,2-2',
        'bytes=x',
        'items=0-1',
      ]),
    ]);
  if (rng.chance(0.1)) headers.push(['Depth', rng.pick(['0', '1', 'infinity', '-1', 'x'])]);
  if (rng.chance(0.05)) headers.push(['Accept-Language', rng.pick(['*', 'zz', 'es;q=x', 'x'.repeat(5000)])]);
  if (rng.chance(0.03)) headers.push(['X-Forwarded-Proto', rng.pick(['https', 'gopher', ''])]);
  if (rng.chance(0.03)) headers.push(['X-Enrollment-Key', rng.pick(['', 'x'.repeat(3000), 'k'])]);

  const nat = natural(route.url, method);
  const bodyless = (method === 'GET' || method === 'HEAD') && rng.chance(0.9);
  let kind = 'none';
  let body: Buffer | undefined;
  if (!bodyless) {
    const ok = Buffer.from(JSON.stringify(template(route.url, rng, c)));
    const r = rng.int(10);
    if (nat === 'application/octet-stream') {
      kind = route.url.endsWith('/blobs') ? 'frames' : 'upload';
      body = kind === 'frames' ? frames(rng) : rng.bytes(rng.pick([0, 1, 100, 70000]));
      if (kind === 'upload') {
        if (rng.chance(0.9)) headers.push(['Upload-Offset', rng.pick(OFFSETS)]);
        if (rng.chance(0.7)) headers.push(['Upload-Length', rng.pick(OFFSETS)]);
      }
    } else if (nat === 'text/xml') {
      kind = 'xmlrpc';
      body = xmlrpc(rng, c);
    } else if (nat === 'application/x-www-form-urlencoded') {
      kind = 'form';
      body = form(rng, session.csrf, c);
    } else if (nat === 'application/xml') {
      kind = 'dav-xml';
      body = rng.chance(0.5) ? Buffer.from(PROPFIND) : xmlrpc(rng, c);
    } else if (r < 4) {
      kind = 'json';
      body = Buffer.from(JSON.stringify(mutate(JSON.parse(ok.toString()), rng)) ?? 'null');
    } else if (r < 6) {
      kind = 'malformed';
      body = malformed(rng, ok);
    } else if (r < 7) {
      kind = 'ok';
      body = ok;
    }
    if (r === 8) {
      kind = 'deep';
      body = deep(rng);
    } else if (r === 9 && rng.chance(0.3)) {
      kind = 'huge';
      body = huge(rng, c);
    }
  }
  let oddType = false;
  if (body || rng.chance(0.2)) {
    const type = rng.chance(0.65) ? nat : rng.pick(TYPES);
    oddType = type !== nat;
    if (rng.chance(0.95)) headers.push(['Content-Type', type]);
    else oddType = true;
  }
  if (body && rng.chance(0.05)) {
    // chunked instead of a length
    const b = body;
    headers.push(['Transfer-Encoding', 'chunked']);
    body = Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n0\r\n\r\n')]);
  }
  return { req: { method, path, headers, body }, kind, oddType };
}
