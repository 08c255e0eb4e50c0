/**
 * Issue #16 §5: sign-in limits slow a guesser without locking out the owner.
 * Real servers; client addresses come from X-Forwarded-For on a server
 * configured with trustProxy (and are ignored on one that is not). Also the
 * pure rules (accounts/limits.ts) and their memory bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCOUNT,
  addressKey,
  attemptVerdict,
  Lru,
  PAIR,
  registerVerdict,
  REGISTER_ADDRESS,
  REGISTER_GLOBAL,
  SecretLimiter,
} from '../src/server/accounts/limits.js';
import { cleanup, startServer, type TestServer } from './helpers/harness.js';
import { WebClient } from './helpers/web-client.js';

/** A browser at a given client address (sent as X-Forwarded-For). */
class At extends WebClient {
  constructor(
    base: string,
    readonly ip: string,
    lang = 'en',
  ) {
    super(base, lang);
  }
  override req(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
    return super.req(method, path, body, { 'x-forwarded-for': this.ip, ...headers });
  }
}

const PASSWORD = 'correct horse battery';
const SN = 'SHL1000001';

async function register(srv: TestServer, serial: string, ip: string, extra: Record<string, string> = {}) {
  return fetch(`${srv.url}/api/v1/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip, ...extra },
    body: JSON.stringify({ serial }),
  });
}

async function studentLogin(c: WebClient, serial: string, code: string) {
  const csrf = WebClient.csrf(await c.text('/ui/login'));
  return c.post('/ui/login', { _csrf: csrf, serial, restoreCode: code });
}

async function adminLogin(c: WebClient, password: string) {
  const csrf = WebClient.csrf(await c.text('/ui/admin/login'));
  return c.post('/ui/admin/login', { _csrf: csrf, password });
}

describe('behind a trusted proxy: per address and per account', () => {
  let srv: TestServer;
  let code: string;
  before(async () => {
    srv = await startServer({ trustProxy: true, enrollmentKey: 'sesame-2008' });
    srv.ctx.store.admin.setPassword(PASSWORD);
    assert.equal((await register(srv, SN, '10.0.0.9', { 'x-enrollment-key': 'sesame-2008' })).status, 201);
    code = srv.ctx.store.restoreCodes.get(SN);
  });
  after(async () => {
    await srv.close();
    cleanup(srv.root);
  });

  test('a password guesser at A is slowed (429, Retry-After, localized page); the admin at B signs in', async () => {
    const guesser = new At(srv.url, '10.0.0.1');
    for (let i = 0; i < PAIR.free; i++) assert.equal((await adminLogin(guesser, 'wrong-password')).status, 401);
    const limited = await adminLogin(guesser, PASSWORD);
    assert.equal(limited.status, 429, 'even the right password waits at the guessing address');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.match(limited.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await limited.text(), /Too many tries/);
    const es = new At(srv.url, '10.0.0.1', 'es');
    const csrf = WebClient.csrf(await es.text('/ui/admin/login'));
    const limitedEs = await es.post('/ui/admin/login', { _csrf: csrf, password: 'x' });
    assert.equal(limitedEs.status, 429);
    assert.match(await limitedEs.text(), /Demasiados intentos/);
    const owner = new At(srv.url, '10.0.0.2');
    const ok = await adminLogin(owner, PASSWORD);
    assert.equal(ok.status, 303, 'the owner elsewhere is not locked out');
    assert.equal(ok.headers.get('location'), '/ui/admin');
  });

  test('wrong restore codes through the API (register --replaces) do not lock the student out of the web', async () => {
    let last: Response | undefined;
    for (let i = 0; i <= PAIR.free; i++) {
      last = await fetch(`${srv.url}/api/v1/devices`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-forwarded-for': '10.0.1.1',
          'x-enrollment-key': 'sesame-2008',
        },
        body: JSON.stringify({
          serial: `SHX00000${i}`,
          replaces: SN,
          restoreCode: '000000' === code ? '111111' : '000000',
        }),
      });
      if (i < PAIR.free) assert.equal(last.status, 403, `attempt ${i + 1} is a wrong code`);
    }
    assert.equal(last!.status, 429);
    assert.ok(Number(last!.headers.get('retry-after')) >= 1);
    const body = (await last!.json()) as { error: string; message: string };
    assert.equal(body.error, 'rate_limited');
    assert.match(body.message, /retry in/);
    const student = new At(srv.url, '10.0.1.2');
    const ok = await studentLogin(student, SN.toLowerCase(), code);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), `/ui/j/${SN}`);
  });

  test('an account under attack from many addresses: guessing addresses wait, a fresh address with the code gets in', async () => {
    const wrong = code === '000000' ? '111111' : '000000';
    const rounds = Math.ceil(ACCOUNT.capacity / PAIR.free) + 1;
    for (let a = 0; a < rounds; a++) {
      const c = new At(srv.url, `10.2.${a}.1`);
      for (let i = 0; i < PAIR.free; i++) await studentLogin(c, SN, wrong);
    }
    // A guesser's sixth try and a new guess after one failure are both refused now.
    const g = new At(srv.url, '10.3.0.1');
    assert.equal((await studentLogin(g, SN, wrong)).status, 401);
    const refused = await studentLogin(g, SN, code);
    assert.equal(refused.status, 429, 'an address that failed on a guarded account waits');
    const owner = new At(srv.url, '10.3.0.2');
    assert.equal((await studentLogin(owner, SN, code)).status, 303, 'the owner at a fresh address still gets in');
  });

  test('wrong enrollment keys are slowed at their address; a laptop elsewhere still joins with the key', async () => {
    for (let i = 0; i < PAIR.free; i++)
      assert.equal((await register(srv, `SHE00000${i}`, '10.4.0.1', { 'x-enrollment-key': 'guess' })).status, 403);
    const limited = await register(srv, 'SHE0000009', '10.4.0.1', { 'x-enrollment-key': 'sesame-2008' });
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { error: string }).error, 'rate_limited');
    const other = await register(srv, 'SHE0000010', '10.4.0.2', { 'x-enrollment-key': 'sesame-2008' });
    assert.equal(other.status, 201);
  });

  test('a registration flood gets 429 per address, then the server-wide cap', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < REGISTER_ADDRESS.capacity + 1; i++)
      statuses.push((await register(srv, 'not a serial!', '10.5.0.1')).status);
    assert.deepEqual(new Set(statuses.slice(0, -1)), new Set([400]));
    assert.equal(statuses.at(-1), 429, 'one address: past its bucket');
    const res = await register(srv, 'not a serial!', '10.5.0.1');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    let limited = 0;
    for (let i = 0; i < 2 * REGISTER_GLOBAL.capacity && !limited; i++)
      if ((await register(srv, 'bad!', `10.6.${i >> 8}.${i & 255}`)).status === 429) limited = i;
    assert.ok(limited > 0, 'many addresses: the server-wide cap answers 429');
  });
});

describe('without trustProxy, X-Forwarded-For is ignored', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
    srv.ctx.store.admin.setPassword(PASSWORD);
  });
  after(async () => {
    await srv.close();
    cleanup(srv.root);
  });

  test('a client cannot escape its limit by naming another address', async () => {
    for (let i = 0; i < PAIR.free; i++)
      assert.equal((await adminLogin(new At(srv.url, `10.9.0.${i}`), 'nope-nope')).status, 401);
    assert.equal((await adminLogin(new At(srv.url, '10.9.1.1'), 'nope-nope')).status, 429);
  });
});

describe('the rules (pure)', () => {
  const empty = { knownGood: false };
  test('pair back-off doubles per failure past the free ones, and forgets after an hour', () => {
    assert.deepEqual(attemptVerdict({ ...empty, pair: { failures: PAIR.free - 1, last: 0 } }, 0), { allow: true });
    assert.deepEqual(attemptVerdict({ ...empty, pair: { failures: PAIR.free + 2, last: 0 } }, 1000), {
      allow: false,
      reason: 'pair-backoff',
      retryAfterMs: 4 * PAIR.baseMs - 1000,
    });
    let t = 0;
    const l = new SecretLimiter(() => t);
    for (let i = 0; i < PAIR.free + 3; i++) l.fail('10.0.0.1', 'SN1');
    assert.equal(l.check('10.0.0.1', 'SN1').allow, false);
    assert.equal(l.check('10.0.0.2', 'SN1').allow, true, 'another address is not slowed');
    t += PAIR.forgetMs + 1;
    l.fail('10.0.0.1', 'SN1');
    assert.equal(l.check('10.0.0.1', 'SN1').allow, true, 'one new failure after an hour: free again');
  });

  test('the address bucket covers every account of one address', () => {
    const t = 0;
    const l = new SecretLimiter(() => t);
    for (let i = 0; i < 30; i++) l.fail('10.0.0.1', `SN${i}`);
    const v = l.check('10.0.0.1', 'OTHER');
    assert.equal(v.allow, false);
    assert.equal((v as { reason: string }).reason, 'address-rate');
    assert.equal(l.check('10.0.0.2', 'OTHER').allow, true);
  });

  test('a guarded account: known-good and fresh addresses pass, failed ones wait', () => {
    const account = { tokens: 0, at: 0 };
    assert.equal(attemptVerdict({ account, knownGood: false }, 0).allow, true, 'fresh');
    assert.equal(attemptVerdict({ account, knownGood: true, pair: { failures: 1, last: 0 } }, 0).allow, true);
    const v = attemptVerdict({ account, knownGood: false, pair: { failures: 1, last: 0 } }, 0);
    assert.deepEqual(v, { allow: false, reason: 'account-guarded', retryAfterMs: ACCOUNT.refillMs });
  });

  test('registration buckets', () => {
    assert.equal(registerVerdict(undefined, undefined, 0).allow, true);
    assert.equal(registerVerdict({ tokens: 0.5, at: 0 }, undefined, 0).allow, false);
    assert.equal(registerVerdict(undefined, { tokens: 0, at: 0 }, 0).allow, false);
    assert.equal(registerVerdict({ tokens: 0, at: 0 }, undefined, REGISTER_ADDRESS.refillMs).allow, true);
  });

  test('memory stays bounded: the least recently used keys are forgotten', () => {
    const m = new Lru<number>(3);
    for (const k of ['a', 'b', 'c']) m.set(k, 1);
    m.get('a');
    m.set('d', 1);
    assert.equal(m.size, 3);
    assert.equal(m.get('b'), undefined, 'b was the least recently used');
    assert.equal(m.get('a'), 1);
    const l = new SecretLimiter();
    for (let i = 0; i < 30_000; i++) l.fail(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, `S${i}`);
    const s = l.sizes();
    assert.ok(s.pairs <= 10_000 && s.addresses <= 10_000 && s.accounts <= 10_000, JSON.stringify(s));
  });

  test('addresses: IPv4-mapped is IPv4; IPv6 is grouped by /64', () => {
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('2001:db8:1:2::5'), addressKey('2001:db8:1:2:aaaa::1'));
    assert.notEqual(addressKey('2001:db8:1:2::5'), addressKey('2001:db8:1:3::5'));
  });
});
