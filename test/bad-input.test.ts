/**
 * Bad input gets a 4xx, never a 5xx (issue #16 §7): wrong or missing content
 * types, malformed JSON, oversized bodies and forms, malformed percent-
 * encodings, control characters in form fields that end up in headers,
 * names that no header or URL encoder accepts, deeply nested XML — each
 * answered with a clear `{error, message}` JSON (an HTML page under /ui).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHeaderValue } from 'node:http';
import { COMMIT_BODY } from '../src/protocol/limits.js';
import { contentDisposition } from '../src/server/http/web/download-routes.js';
import { portableName } from '../src/server/http/dav/names.js';
import { agent, cleanup, registered, startServer, token, type TestServer } from './helpers/harness.js';
import { WebClient } from './helpers/web-client.js';

const SN = 'SHF7000985';
let srv: TestServer;
let profile: string;
let tok: string;
let web: WebClient;
let uid: string;

before(async () => {
  srv = await startServer({ davAllowHttp: true });
  const l = await registered(srv.url, SN, { entries: 3 });
  profile = l.profile;
  tok = token(profile);
  uid = l.summary.entries[0].uid;
  const b = await agent(['backup', '--profile', profile]);
  assert.equal(b.code, 0, b.stderr);
  const r = await agent(['restore', '--web', '--no-open', '--profile', profile]);
  web = new WebClient(srv.url);
  assert.equal((await web.get(new URL(r.stdout.trim()).pathname)).status, 303);
});
after(async () => {
  await srv.close();
  cleanup(srv.root, profile);
});

async function send(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const res = await fetch(srv.url + path, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  let json: { error?: string; message?: string } | null = null;
  try {
    json = JSON.parse(text) as { error?: string; message?: string };
  } catch {
    /* HTML or text */
  }
  return { status: res.status, text, json, type: res.headers.get('content-type') ?? '' };
}

const clientError = (r: { status: number }, what: string) =>
  assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status}`);
const jsonError = (r: Awaited<ReturnType<typeof send>>, what: string) => {
  clientError(r, what);
  assert.ok(r.json?.error && r.json.message, `${what}: {error, message} JSON, got ${r.text.slice(0, 200)}`);
};

describe('API: content types, JSON, sizes and URLs', () => {
  test('wrong, missing or odd content types and malformed JSON → 4xx JSON', async () => {
    const auth = { authorization: `Bearer ${tok}` };
    const cases: Array<[string, Record<string, string>, string]> = [
      ['text/plain', { 'content-type': 'text/plain' }, '{}'],
      ['none', {}, '{}'],
      ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
      ['form', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=b'],
      ['bad JSON', { 'content-type': 'application/json' }, '{"serial":'],
      ['deep JSON', { 'content-type': 'application/json' }, '['.repeat(3000)],
    ];
    for (const [what, headers, body] of cases) {
      jsonError(await send('POST', '/api/v1/devices', { headers, body }), `register, ${what}`);
      jsonError(await send('POST', '/api/v1/pins', { headers: { ...auth, ...headers }, body }), `pins, ${what}`);
    }
  });

  test('malformed percent-encodings in paths → 400 JSON (an HTML page under /ui)', async () => {
    for (const p of ['/api/v1/snapshots/%/x/entries', '/api/v1/blobs/%E0%A4%A', '/dav/%zz', '/nothing/%']) {
      const r = await send('GET', p, { headers: { authorization: `Bearer ${tok}` } });
      assert.equal(r.status, 400, p);
      assert.equal(r.json?.error, 'bad_request', `${p}: ${r.text}`);
    }
    const page = await send('GET', '/ui/j/%');
    assert.equal(page.status, 400);
    assert.match(page.type, /text\/html/);
  });

  test('a commit body over its limit → 413 too_large, before it is parsed', async () => {
    const h = { authorization: `Bearer ${tok}` };
    const l = (await (await fetch(`${srv.url}/api/v1/backups`, { method: 'POST', headers: h })).json()) as {
      lease: string;
    };
    const body = `{"sources":[{"source":"datastore","root":"${'0'.repeat(64)}","trees":{"${'1'.repeat(64)}":"${'x'.repeat(COMMIT_BODY)}"}}]}`;
    const r = await send('POST', `/api/v1/backups/${l.lease}/commit`, {
      headers: { ...h, 'content-type': 'application/json' },
      body,
    });
    assert.equal(r.status, 413);
    assert.equal(r.json?.error, 'too_large');
    await fetch(`${srv.url}/api/v1/backups/${l.lease}`, { method: 'DELETE', headers: h });
  });

  test('deeply nested XML in a PROPFIND → 400, the server keeps answering', async () => {
    const auth = `Basic ${Buffer.from(`${SN}:${srv.ctx.store.restoreCodes.get(SN)}`).toString('base64')}`;
    const deep = `<?xml version="1.0"?>${'<a>'.repeat(9000)}${'</a>'.repeat(9000)}`;
    const r = await send('PROPFIND', '/dav/', {
      headers: { authorization: auth, depth: '0', 'content-type': 'text/xml' },
      body: deep,
    });
    assert.equal(r.status, 400, r.text);
    assert.equal((await fetch(`${srv.url}/api/v1/ping`)).status, 200);
  });
});

describe('web forms', () => {
  test('wrong content types and oversized forms → 4xx pages, not 500', async () => {
    for (const [what, headers, body] of [
      ['text/plain', { 'content-type': 'text/plain' }, 'x'],
      ['none', {} as Record<string, string>, 'x'],
      ['oversized', { 'content-type': 'application/x-www-form-urlencoded' }, `x=${'y'.repeat(200_000)}`],
      ['bad encoding', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=%&b=%zz%'],
    ] as const) {
      const r = await send('POST', '/ui/login', { headers, body });
      clientError(r, `login form, ${what}`);
      assert.match(r.type, /text\/html/, what);
    }
  });

  test('control and non-ASCII characters in a form field that becomes a header → a safe redirect', async () => {
    const csrf = WebClient.csrf(await web.text(`/ui/j/${SN}`));
    for (const back of [`/ui/j/${SN}\r\nSet-Cookie: x=1`, `/ui/j/${SN}/\u0100`, `/ui/j/${SN}\u0000`]) {
      const r = await web.post(`/ui/j/${SN}/pin`, { _csrf: csrf, kind: 'entry', ref: uid, action: 'pin', back });
      assert.equal(r.status, 303, JSON.stringify(back));
      assert.equal(r.headers.get('location'), `/ui/j/${SN}`);
    }
    const ok = await web.post(`/ui/j/${SN}/pin`, {
      _csrf: csrf,
      kind: 'entry',
      ref: uid,
      action: 'unpin',
      back: `/ui/j/${SN}?q=a+b`,
    });
    assert.equal(ok.headers.get('location'), `/ui/j/${SN}?q=a+b`, 'a plain page of the laptop is kept');
  });
});

test('names no header or URL encoder accepts are made safe (RFC 6266 / 5987 Content-Disposition)', () => {
  for (const name of ['a\r\nb.txt', 'x\u0000y', 'lone \ud800 surrogate', '\udc00', 'tab\there', 'ñandú "q".pdf']) {
    const cd = contentDisposition(name);
    assert.doesNotThrow(() => validateHeaderValue('Content-Disposition', cd), JSON.stringify(name));
    assert.match(cd, /^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!._~-]*$/);
    assert.doesNotThrow(() => encodeURIComponent(portableName(name)));
  }
});
