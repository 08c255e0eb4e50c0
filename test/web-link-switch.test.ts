/**
 * Issue #16 §9: following another laptop's one-time link while signed in
 * asks first: a page with a CSRF-protected form (the link stays unused until
 * the answer), then post-redirect-get to the other laptop's pages.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, startServer, type TestServer } from './helpers/harness.js';
import { WebClient } from './helpers/web-client.js';

let srv: TestServer;
const A = 'SHA0000001';
const B = 'SHB0000001';

before(async () => {
  srv = await startServer();
  for (const serial of [A, B]) {
    const r = await fetch(`${srv.url}/api/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serial }),
    });
    assert.equal(r.status, 201);
  }
});
after(async () => {
  await srv.close();
  cleanup(srv.root);
});

const link = (serial: string) => `/ui/link/${srv.ctx.store.webAuth.createLink(serial).token}`;

test('not signed in, or signed in to the same laptop: the link signs in at once', async () => {
  const c = new WebClient(srv.url);
  const r = await c.get(link(A));
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), `/ui/j/${A}`);
  const again = await c.get(link(A));
  assert.equal(again.status, 303, 'own account: no question');
});

test("another laptop's link while signed in: asked first, switched only on the CSRF-checked answer", async () => {
  const c = new WebClient(srv.url);
  assert.equal((await c.get(link(A))).status, 303);
  const other = link(B);
  const ask = await c.get(other);
  assert.equal(ask.status, 200);
  const page = await ask.text();
  assert.match(page, new RegExp(`signed in as ${A}.*laptop ${B}`, 's'));
  assert.match(page, new RegExp(`<form method="post" action="${other}"`));
  assert.equal((await c.get(`/ui/j/${A}`)).status, 200, 'still signed in as A');
  assert.equal((await c.get(other)).status, 200, 'asking did not use the link');

  assert.equal((await c.post(other, {})).status, 403, 'no CSRF token');
  assert.equal((await c.post(other, { _csrf: 'x'.repeat(32) })).status, 403, 'a wrong one');
  const yes = await c.post(other, { _csrf: WebClient.csrf(page) });
  assert.equal(yes.status, 303);
  assert.equal(yes.headers.get('location'), `/ui/j/${B}`);
  assert.equal((await c.get(`/ui/j/${B}`)).status, 200);
  assert.equal((await c.get(`/ui/j/${A}`)).status, 404, 'A is no longer this session');

  const used = await c.get(other);
  assert.equal(used.status, 401, 'the link was used by the answer');
});

test('the admin following a student link is asked too', async () => {
  srv.ctx.store.admin.setPassword('admin-password-1');
  const c = new WebClient(srv.url);
  const csrf = WebClient.csrf(await c.text('/ui/admin/login'));
  assert.equal((await c.post('/ui/admin/login', { _csrf: csrf, password: 'admin-password-1' })).status, 303);
  const ask = await c.get(link(A));
  assert.equal(ask.status, 200);
  assert.match(await ask.text(), /signed in as the administrator/);
  assert.equal((await c.get('/ui/admin')).status, 200, 'still the admin');
});
