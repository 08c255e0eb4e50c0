/**
 * The wire contract (src/protocol/api.ts, limits.ts) and the real server
 * agree: every endpoint the agent calls is a route the server registered,
 * with the same method; every /api/v1 route the server registered is in
 * the contract; a path the agent builds reaches its route; and the agent's
 * batch sizes stay within the limits the server enforces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API, apiPath, type Endpoint } from '../src/protocol/api.js';
import * as L from '../src/protocol/limits.js';
import { serverForSuite, type TestServer } from './helpers/harness.js';
import { parsePrintedRoutes } from '../scripts/torture/routes.js';

let srv: TestServer;
serverForSuite((s) => (srv = s));

const endpoints = Object.entries(API) as Array<[string, Endpoint]>;

/** (method, url) of every route but HEAD, read from Fastify's printRoutes tree. */
const registeredRoutes = (text: string) =>
  new Set(parsePrintedRoutes(text).flatMap((r) => (r.method === 'HEAD' ? [] : [`${r.method} ${r.url}`])));

const SAMPLE: Record<string, string> = {
  lease: '0123456789abcdef0123456789abcdef',
  id: 'a'.repeat(64),
  serial: 'SHC12345678',
  name: 'datastore-2026-01-01_12:00',
};
const filled = (e: Endpoint) => apiPath(e, SAMPLE as never);

test('every endpoint of the contract is a route of the server, with its method', () => {
  for (const [name, e] of endpoints)
    assert.ok(srv.app.hasRoute({ method: e.method, url: e.url }), `${name}: ${e.method} ${e.url} is not registered`);
});

test('every /api/v1 route the server registered is in the contract', () => {
  const routes = registeredRoutes(srv.app.printRoutes({ commonPrefix: false }));
  const api = [...routes].filter((r) => r.split(' ')[1].startsWith('/api/v1/'));
  assert.ok(api.length >= endpoints.length, `parsed only ${api.length} routes:\n${[...routes].join('\n')}`);
  const contract = new Set(endpoints.map(([, e]) => `${e.method} ${e.url}`));
  assert.deepEqual(
    api.filter((r) => !contract.has(r)),
    [],
  );
});

test('a path the agent builds reaches its route (no "no such endpoint")', async () => {
  for (const [name, e] of endpoints) {
    const res = await srv.app.inject({ method: e.method, url: filled(e) });
    const body = res.body ? (JSON.parse(res.body) as { message?: string }) : {};
    assert.ok(!/no such endpoint/.test(body.message ?? ''), `${name}: ${e.method} ${filled(e)} → ${res.statusCode}`);
  }
});

test('apiPath fills and encodes every parameter, and refuses a missing one', () => {
  assert.equal(apiPath(API.upload, { lease: 'ab', id: 'c d' }), '/api/v1/backups/ab/uploads/c%20d');
  assert.equal(apiPath(API.snapshots, {}), '/api/v1/snapshots');
  assert.throws(() => apiPath(API.commit, {} as never), /no value for :lease/);
});

test("the agent's batches stay within what the server accepts", () => {
  const idsBody = (n: number) => JSON.stringify({ ids: Array(n).fill('a'.repeat(64)) }).length;
  assert.ok(L.BATCH_BYTES <= L.BATCH_BODY_MAX);
  assert.ok(L.ASK_COUNT <= L.MISSING_IDS_MAX && idsBody(L.ASK_COUNT) <= L.MISSING_BODY);
  assert.ok(L.TREE_FETCH_COUNT <= L.FETCH_IDS_MAX && idsBody(L.TREE_FETCH_COUNT) <= L.FETCH_BODY);
  // Proofs answer one challenge, at most every id of one `missing` request (protocol/proof.ts).
  const proofs = { nonce: 'a'.repeat(64), proofs: Object.fromEntries([0].map(() => ['a'.repeat(64), 'b'.repeat(64)])) };
  const perProof = JSON.stringify(proofs.proofs).length - 2 + 1;
  assert.ok(JSON.stringify(proofs).length + L.MISSING_IDS_MAX * perProof <= L.PROOFS_BODY);
  assert.ok(L.MISSING_IDS_MAX <= L.CHALLENGE_IDS_MAX);
  assert.ok(L.BLOB_FETCH_COUNT <= L.FETCH_IDS_MAX && idsBody(L.BLOB_FETCH_COUNT) <= L.FETCH_BODY);
  // A batch of trees ahead closes at TREES_AHEAD_BATCH, so holds at most that plus one tree (≤ TREE_AHEAD_MAX),
  // each at most doubled by JSON escaping.
  assert.ok(2 * (L.TREES_AHEAD_BATCH + L.TREE_AHEAD_MAX) <= L.TREES_AHEAD_BODY);
  assert.ok(L.FRAMED_BLOB_MAX < 2 ** 32 && L.BATCH_BLOB_MAX <= L.FRAMED_BLOB_MAX);
  assert.ok(L.MAX_TREE_BYTES <= L.COMMIT_BODY);
});

test('every body limit admits what its route needs, and not much more (issue 16 §7)', () => {
  const idsBody = (n: number) => JSON.stringify({ ids: Array(n).fill('a'.repeat(64)) }).length;
  const MiB = 1024 * 1024;
  assert.ok(idsBody(L.MISSING_IDS_MAX) <= L.MISSING_BODY && L.MISSING_BODY <= 2 * idsBody(L.MISSING_IDS_MAX));
  assert.ok(idsBody(L.FETCH_IDS_MAX) <= L.FETCH_BODY && L.FETCH_BODY <= 2 * idsBody(L.FETCH_IDS_MAX));
  // One tree of the largest size, JSON escaping at most doubling it, plus the rest of the body.
  assert.ok(2 * L.MAX_TREE_BYTES < L.COMMIT_BODY && L.COMMIT_BODY <= 2 * L.MAX_TREE_BYTES + 4 * MiB);
  assert.ok(L.TREES_AHEAD_BODY <= 2 * (L.TREES_AHEAD_BATCH + L.TREE_AHEAD_MAX) + 2 * MiB);
  assert.ok(L.REGISTER_BODY <= L.JSON_BODY);
});
