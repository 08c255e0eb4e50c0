/**
 * Issue #16 §2: GET /backup/1/available/<SN> (no credentials, as the 2008
 * client sends none) grants a slot only to a laptop registered through
 * Sugar with a key, never in place of a live lease, and gives the slot back
 * when the laptop's rsync session does not start within legacyStartSec.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SESSION_MARK } from '../src/server/legacy/command-policy.js';
import { keepStartedSessions } from '../src/server/legacy/routes.js';
import { cleanup, startServer, type TestServer } from './helpers/harness.js';

let srv: TestServer;
before(async () => {
  srv = await startServer({ legacyStartSec: 1, legacyLeaseSec: 600 });
});
after(async () => {
  await srv.close();
  cleanup(srv.root);
});

function ed25519Blob(): string {
  const t = Buffer.from('ssh-ed25519');
  const k = randomBytes(32);
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([len(t.length), t, len(k.length), k]).toString('base64');
}

async function registerSugar(sn: string): Promise<void> {
  const p = (v: string) => `<param><value><string>${v}</string></value></param>`;
  const body = `<?xml version="1.0"?><methodCall><methodName>register</methodName><params>${p(sn)}${p('Ana')}${p(`uuid-${sn}`)}${p(ed25519Blob())}</params></methodCall>`;
  const res = await fetch(`${srv.url}/`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
  assert.match(await res.text(), /OK/);
}

const available = (sn: string) => fetch(`${srv.url}/backup/1/available/${sn}`).then((r) => r.status);
const leasesOf = (sn: string) => srv.ctx.admission.active().filter((l) => l.serial === sn);

test('a laptop registered natively (no key) gets no slot from the legacy URL', async () => {
  const res = await fetch(`${srv.url}/api/v1/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ serial: 'SHN0000001' }),
  });
  assert.equal(res.status, 201);
  assert.equal(await available('SHN0000001'), 403);
  assert.equal(leasesOf('SHN0000001').length, 0);
});

test('a live lease is never replaced; the own legacy slot is confirmed, not renewed', async () => {
  await registerSugar('SHL0000001');
  const dev = srv.ctx.store.registry.bySerial('SHL0000001')!;
  const native = srv.ctx.admission.request(dev.id, 'SHL0000001');
  assert.equal(await available('SHL0000001'), 503);
  assert.deepEqual(
    leasesOf('SHL0000001').map((l) => l.id),
    [native.id],
    'the live lease is still the one held',
  );
  srv.ctx.admission.release(native.id);
  assert.equal(await available('SHL0000001'), 200);
  const [legacy] = leasesOf('SHL0000001');
  assert.equal(await available('SHL0000001'), 200);
  assert.equal(leasesOf('SHL0000001')[0].id, legacy.id, 'asking again keeps the same slot');
});

test('the slot is given back when no rsync session starts; kept when one does', async () => {
  await registerSugar('SHL0000002');
  assert.equal(await available('SHL0000002'), 200);
  assert.equal(leasesOf('SHL0000002').length, 1);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(leasesOf('SHL0000002').length, 0, 'no session: slot released after legacyStartSec');

  assert.equal(await available('SHL0000002'), 200);
  const home = join(srv.root, 'users', 'SHL0000002');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, SESSION_MARK), '');
  keepStartedSessions(srv.ctx);
  await new Promise((r) => setTimeout(r, 1200));
  const [l] = leasesOf('SHL0000002');
  assert.ok(l, 'session started: slot held');
  assert.ok(l.expiresAt - l.grantedAt >= 599_000);
});
