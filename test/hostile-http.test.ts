/**
 * Issue #16 §1: what an unauthenticated or slow sender costs a real server.
 * A 200 MiB body without a token is answered 401 before it is read (the
 * connection closes; RSS stays bounded); a sender that trickles its body is
 * cut off after the body deadline while other requests are answered.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { API, apiPath } from '../src/protocol/api.js';
import { cleanup, startServer, type TestServer } from './helpers/harness.js';

let srv: TestServer;
let host: string;
let port: number;
before(async () => {
  srv = await startServer({ bodyGraceSec: 1 });
  const u = new URL(srv.url);
  host = u.hostname;
  port = Number(u.port);
});
after(async () => {
  await srv.close();
  cleanup(srv.root);
});

/** Opens a raw connection and collects what the server answers until it closes. */
function raw(): { sock: Socket; answer: Promise<{ text: string; closedAfterMs: number }> } {
  const sock = connect(port, host);
  const t0 = Date.now();
  let text = '';
  sock.on('data', (d) => (text += d.toString('latin1')));
  sock.on('error', () => {});
  const answer = new Promise<{ text: string; closedAfterMs: number }>((res) =>
    sock.on('close', () => res({ text, closedAfterMs: Date.now() - t0 })),
  );
  return { sock, answer };
}

test('an unauthenticated 200 MiB body is answered 401 unread; RSS stays bounded', { timeout: 60_000 }, async () => {
  const before = process.memoryUsage().rss;
  const path = apiPath(API.commit, { lease: 'a'.repeat(32) });
  const size = 200 * 1024 * 1024;
  const { sock, answer } = raw();
  sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n[`);
  const chunk = Buffer.alloc(1024 * 1024, 0x5b); // '[' — as deep as the bytes go
  let sent = 0;
  let closed = false;
  void answer.then(() => (closed = true));
  while (sent < size && !closed) {
    if (!sock.write(chunk)) await new Promise((r) => setTimeout(r, 5));
    sent += chunk.length;
    if (sent % (16 * 1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
  }
  const { text } = await answer;
  assert.match(text, /^HTTP\/1\.1 401/);
  assert.match(text, /"error":"unauthorized"/);
  const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
  assert.ok(grown < 100, `RSS grew ${grown.toFixed(0)} MiB`);
  const ping = await fetch(`${srv.url}${API.ping.url}`);
  assert.equal(ping.status, 200);
});

test('a chunked unauthenticated upload is refused the same way', async () => {
  const { sock, answer } = raw();
  const path = apiPath(API.blobs, { lease: 'b'.repeat(32) });
  sock.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`,
  );
  sock.write('100000\r\n' + 'x'.repeat(0x100000) + '\r\n');
  const { text } = await answer;
  assert.match(text, /^HTTP\/1\.1 401/);
});

test(
  'a slow-loris body is cut off after its deadline; other requests are answered meanwhile',
  { timeout: 30_000 },
  async () => {
    const slow = [raw(), raw(), raw()];
    for (const { sock } of slow)
      sock.write(
        `POST ${API.register.url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
      );
    const drip = setInterval(() => {
      for (const { sock } of slow) if (!sock.destroyed) sock.write(' ');
    }, 100);
    try {
      const t0 = Date.now();
      const ping = await fetch(`${srv.url}${API.ping.url}`);
      assert.equal(ping.status, 200);
      assert.ok(Date.now() - t0 < 1000);
      for (const { answer } of slow) {
        const { closedAfterMs, text } = await answer;
        assert.equal(text, '', 'no answer, the connection is cut');
        assert.ok(closedAfterMs < 5000, `cut after ${closedAfterMs} ms`);
      }
    } finally {
      clearInterval(drip);
    }
  },
);

test('registration refuses a body larger than it needs', async () => {
  const res = await fetch(`${srv.url}${API.register.url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ serial: 'SHC00000001', nickname: 'x'.repeat(8000) }),
  });
  assert.equal(res.status, 413);
});
