/**
 * WebDAV (/dav/, read-only), judged by real clients: litmus (basic and
 * props suites), rclone (lsjson; copy of a backup date folder and of the
 * Documents folder, checked byte for byte against a native
 * `ds-backup restore --all`), cadaver (ls, get, and refused writes) and a
 * davfs2 mount where this machine allows one. Also what no client checks
 * for us: sign-in rules, plain HTTP refused, every write method refused,
 * PROPFIND details, Range answers. A test is skipped (with the reason) only
 * when its client is not installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { installed, runClient } from './helpers/clients.js';
import { agent, backupJson, cleanup, registered, startServer, tmp, type TestServer } from './helpers/harness.js';
import { davEntriesAt, davSnapshots } from '../src/server/catalog/dav.js';
import { dateFolder, portableName } from '../src/server/http/dav/names.js';
import { decideRange } from '../src/server/http/dav/range.js';

const A = 'SHF7000970';
const B = 'SHF7000971';
const ADMIN_PW = 'correct horse battery';
let srv: TestServer;
let profA: string;
let pinA: string;
let pinB: string;
let dateA: string;
const scratch = tmp('dav');
const BIG = randomBytes(48 * 1024 * 1024);

const has = installed;
const run = runClient;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function dav(path: string, init: RequestInit & { user?: string; pass?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.user) headers.set('Authorization', basic(init.user, init.pass ?? ''));
  return fetch(`${srv.url}${path}`, { ...init, headers });
}

/** Every regular file under dir: relative path → sha256 (links left out). */
function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.set(relative(dir, p), sha(readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

before(async () => {
  srv = await startServer({ davAllowHttp: true });
  const a = await registered(srv.url, A, { entries: 30, documents: true });
  profA = a.profile;
  writeFileSync(join(profA, 'Documents', 'big-video.ogv'), BIG);
  await backupJson(profA);
  await backupJson((await registered(srv.url, B, { entries: 8 })).profile);
  srv.ctx.store.admin.setPassword(ADMIN_PW);
  pinA = srv.ctx.store.restoreCodes.get(A);
  pinB = srv.ctx.store.restoreCodes.get(B);
  const dev = srv.ctx.store.registry.bySerial(A)!;
  const snap = davSnapshots(srv.ctx.store.db, dev.account_id, 'datastore')[0];
  dateA = dateFolder(snap.name, snap.created_at);
});
after(async () => {
  await srv.close();
  cleanup(srv.root, profA, scratch);
});

describe('sign-in and refusals', () => {
  test('plain HTTP is refused unless --dav-allow-http; a local TLS proxy (X-Forwarded-Proto) counts as https', async () => {
    const strict = await startServer();
    try {
      const r = await fetch(`${strict.url}/dav/`, { headers: { Authorization: basic(A, '000000') } });
      assert.equal(r.status, 403);
      assert.match(await r.text(), /--dav-allow-http/);
      const proxied = await fetch(`${strict.url}/dav/`, { headers: { 'X-Forwarded-Proto': 'https' } });
      assert.equal(proxied.status, 401, 'asks for credentials behind a local https proxy');
    } finally {
      await strict.close();
      cleanup(strict.root);
    }
  });

  test('no credentials → 401 challenge; wrong PIN → 401; a student sees only their own laptop; the admin sees all', async () => {
    const none = await dav('/dav/', { method: 'PROPFIND', headers: { Depth: '1' } });
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm="ds-backup"/);
    assert.equal((await dav('/dav/', { user: A, pass: '000000' })).status, 401);
    const mine = await (
      await dav('/dav/', { method: 'PROPFIND', headers: { Depth: '1' }, user: A, pass: pinA })
    ).text();
    assert.deepEqual(sorted(mine.match(/<D:href>[^<]*/g)!), ['<D:href>/dav/', `<D:href>/dav/${A}/`]);
    assert.equal(
      (await dav(`/dav/${B}/`, { method: 'PROPFIND', headers: { Depth: '0' }, user: A, pass: pinA })).status,
      404,
    );
    assert.equal(
      (await dav(`/dav/${A}/`, { method: 'PROPFIND', headers: { Depth: '0' }, user: B, pass: pinB })).status,
      404,
    );
    const all = await (
      await dav('/dav/', { method: 'PROPFIND', headers: { Depth: '1' }, user: 'admin', pass: ADMIN_PW })
    ).text();
    assert.ok(all.includes(`/dav/${A}/`) && all.includes(`/dav/${B}/`));
    assert.equal((await dav('/dav/', { user: 'admin', pass: 'wrong password' })).status, 401);
  });

  test('the sign-in rate limit: past 5 failures for a serial, 429 without checking the PIN', async () => {
    const C = 'SHF7000979';
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await dav('/dav/', { user: C, pass: `00000${i}` })).status);
    assert.deepEqual(codes, [401, 401, 401, 401, 401, 429]);
  });

  test('every write method is refused with 405 and an Allow header, never a 5xx', async () => {
    for (const method of ['PUT', 'DELETE', 'MKCOL', 'MOVE', 'COPY', 'PROPPATCH', 'LOCK', 'UNLOCK', 'POST', 'PATCH']) {
      const r = await dav(`/dav/me/latest/new.txt`, {
        method,
        user: A,
        pass: pinA,
        headers: { 'Content-Type': 'text/plain', Destination: `${srv.url}/dav/me/x` },
        body: method === 'DELETE' || method === 'UNLOCK' ? undefined : 'hello',
      });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get('allow'), 'OPTIONS, GET, HEAD, PROPFIND', method);
    }
    const o = await dav('/dav/', { method: 'OPTIONS' });
    assert.equal(o.status, 200);
    assert.equal(o.headers.get('dav'), '1');
  });
});

describe('PROPFIND and GET', () => {
  test('the layout: latest/, one folder per backup date, Documents/; files carry the documents’ own dates and sizes', async () => {
    const top = await (
      await dav('/dav/me/', { method: 'PROPFIND', headers: { Depth: '1' }, user: A, pass: pinA })
    ).text();
    const hrefs = sorted(top.match(/<D:href>[^<]*/g)!.map((h) => decodeURIComponent(h.slice(8))));
    assert.deepEqual(hrefs, ['/dav/me/', '/dav/me/Documents/', `/dav/me/${dateA}/`, '/dav/me/latest/'].sort());
    const dev = srv.ctx.store.registry.bySerial(A)!;
    const snap = davSnapshots(srv.ctx.store.db, dev.account_id, 'datastore')[0];
    const e = davEntriesAt(srv.ctx.store.db, snap).find((x) => x.data_size > 100 && x.timestamp)!;
    const listing = await (
      await dav(`/dav/me/${encodeURIComponent(dateA)}/`, {
        method: 'PROPFIND',
        headers: { Depth: '1' },
        user: A,
        pass: pinA,
      })
    ).text();
    const names = listing.match(/<D:displayname>[^<]*/g)!.map((s) => s.slice(15));
    assert.equal(new Set(names.map((n) => n.toLowerCase())).size, names.length, 'names unique');
    for (const n of names) assert.equal(portableName(n), n, `portable: ${n}`);
    const block = listing
      .split('<D:response>')
      .find(
        (r) =>
          r.includes(`<D:getcontentlength>${e.data_size}<`) && r.includes(new Date(e.timestamp! * 1000).toUTCString()),
      );
    assert.ok(block, 'an entry with its own size and date');
  });

  test('PROPFIND bodies: named properties (unknown ones 404 with their namespace), bad XML 400, Depth infinity 403', async () => {
    const body = `<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getcontentlength/><resourcetype/><x:color xmlns:x="urn:example"/></prop></propfind>`;
    const r = await dav('/dav/me/latest/', { method: 'PROPFIND', headers: { Depth: '0' }, body, user: A, pass: pinA });
    assert.equal(r.status, 207);
    const x = await r.text();
    assert.match(x, /<D:resourcetype><D:collection\/><\/D:resourcetype><\/D:prop><D:status>HTTP\/1.1 200 OK/);
    assert.match(
      x,
      /<D:getcontentlength\/><x:color xmlns:x="urn:example"\/><\/D:prop><D:status>HTTP\/1.1 404 Not Found/,
    );
    const pn = await dav('/dav/me/', {
      method: 'PROPFIND',
      headers: { Depth: '0' },
      body: '<propfind xmlns="DAV:"><propname/></propfind>',
      user: A,
      pass: pinA,
    });
    assert.match(await pn.text(), /<D:getlastmodified\/>/);
    for (const bad of [
      '<propfind xmlns="DAV:"><prop>',
      '<propfind xmlns="DAV:"><prop><bar:foo xmlns:bar=""/></prop></propfind>',
    ])
      assert.equal(
        (await dav('/dav/me/', { method: 'PROPFIND', headers: { Depth: '0' }, body: bad, user: A, pass: pinA })).status,
        400,
      );
    assert.equal((await dav('/dav/me/', { method: 'PROPFIND', user: A, pass: pinA })).status, 403);
  });

  test('GET streams the data file; Range gives 206 with exactly those bytes; 416 past the end; If-Range mismatch → whole file', async () => {
    const dev = srv.ctx.store.registry.bySerial(A)!;
    const snap = davSnapshots(srv.ctx.store.db, dev.account_id, 'datastore')[0];
    const e = davEntriesAt(srv.ctx.store.db, snap).find((x) => x.data_size > 1000)!;
    const listing = await (
      await dav('/dav/me/latest/', { method: 'PROPFIND', headers: { Depth: '1' }, user: A, pass: pinA })
    ).text();
    const resp = listing.split('<D:response>').find((r) => r.includes(`<D:getcontentlength>${e.data_size}<`))!;
    const href = /<D:href>([^<]*)/.exec(resp)![1];
    const whole = Buffer.from(await (await dav(href, { user: A, pass: pinA })).arrayBuffer());
    assert.equal(whole.length, e.data_size);
    const part = await dav(href, { user: A, pass: pinA, headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${e.data_size}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 200));
    const tail = await dav(href, { user: A, pass: pinA, headers: { Range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), whole.subarray(whole.length - 10));
    const past = await dav(href, { user: A, pass: pinA, headers: { Range: `bytes=${e.data_size}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${e.data_size}`);
    const stale = await dav(href, { user: A, pass: pinA, headers: { Range: 'bytes=0-9', 'If-Range': '"other"' } });
    assert.equal(stale.status, 200);
    const head = await dav(href, { method: 'HEAD', user: A, pass: pinA });
    assert.equal(head.headers.get('content-length'), String(e.data_size));
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(decideRange('bytes=0-1, 5-6', 10, undefined, '"x"', 0), { kind: 'full' });
  });
  test('a large file streams: the whole 48 MiB arrives while the memory buffers of this process grow far less', async () => {
    // Buffers still held (not yet collected garbage): collect, then look, every 20 ms.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const timer = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 20);
    try {
      const r = await dav('/dav/me/Documents/big-video.ogv', { user: A, pass: pinA });
      assert.equal(r.headers.get('content-length'), String(BIG.length));
      const h = createHash('sha256');
      let n = 0;
      for await (const chunk of r.body as AsyncIterable<Uint8Array>) {
        h.update(chunk);
        n += chunk.length;
        await new Promise((res) => setImmediate(res));
      }
      assert.equal(n, BIG.length);
      assert.equal(h.digest('hex'), sha(BIG));
    } finally {
      clearInterval(timer);
    }
    assert.ok(peak - base < 16 * 1024 * 1024, `buffers grew by ${((peak - base) / 1048576).toFixed(1)} MiB`);
    console.log(`streaming 48 MiB: buffers grew by at most ${((peak - base) / 1048576).toFixed(1)} MiB`);
  });
});

describe('real clients', () => {
  test(
    'litmus basic and props: reads pass, every write is refused cleanly (no 5xx)',
    { skip: !has('litmus') && 'litmus is not installed (apt-get install litmus)' },
    async () => {
      const r = await run('litmus', ['-k', `${srv.url}/dav/me/`, A, pinA], {
        env: { ...process.env, TESTS: 'basic props' },
        cwd: scratch,
      });
      const out = r.stdout + r.stderr;
      const summaries = out.split('\n').filter((l) => l.startsWith('<- summary'));
      for (const s of summaries) console.log(`litmus: ${s}`);
      assert.equal(summaries.length, 2, out);
      assert.match(out, /0\. init\.+ pass/);
      // litmus needs MKCOL for its scratch collection: a read-only server refuses it, and the suite stops there.
      assert.match(out, /Could not create new collection .*: 405 Method Not Allowed/);
      assert.doesNotMatch(out, /\b5\d\d [A-Z]/, 'no 5xx');
    },
  );

  test(
    'rclone: lsjson names and sizes; copy of a date folder and of Documents equals a native restore, byte for byte',
    { skip: !has('rclone') && 'rclone is not installed (apt-get install rclone)' },
    async () => {
      const native = join(scratch, 'native');
      const rr = await agent(['restore', '--profile', profA, '--all', '--to', native]);
      assert.equal(rr.code, 0, rr.stderr);
      const pass = (await run('rclone', ['obscure', pinA])).stdout.trim();
      const remote = [
        '--webdav-url',
        `${srv.url}/dav/`,
        '--webdav-user',
        A,
        '--webdav-pass',
        pass,
        '--config',
        join(scratch, 'rclone.conf'),
      ];
      const ls = await run('rclone', ['lsjson', ...remote, `:webdav:${A}/${dateA}`]);
      assert.equal(ls.status, 0, ls.stderr);
      const listed = JSON.parse(ls.stdout) as Array<{ Name: string; Size: number; IsDir: boolean }>;
      const copy = join(scratch, 'rclone-date');
      const cp = await run('rclone', ['copy', ...remote, `:webdav:${A}/${dateA}`, copy]);
      assert.equal(cp.status, 0, cp.stderr);
      const got = filesUnder(copy);
      assert.deepEqual(sorted(got.keys()), sorted(listed.map((f) => f.Name)));
      for (const f of listed) assert.equal(lstatSync(join(copy, f.Name)).size, f.Size, f.Name);
      // The native restore holds each entry's data as datastore/<xx>/<uid>/data.
      const restored = [...filesUnder(join(native, 'datastore'))].filter(([p]) => /^[^/]+\/[^/]+\/data$/.test(p));
      assert.ok(restored.length > 10);
      assert.deepEqual(sorted(got.values()), sorted(restored.map(([, h]) => h)), 'same bytes as the native restore');
      const docs = join(scratch, 'rclone-docs');
      assert.equal((await run('rclone', ['copy', ...remote, `:webdav:${A}/Documents`, docs])).status, 0);
      assert.deepEqual(filesUnder(docs), filesUnder(join(native, 'documents')));
    },
  );

  test(
    'cadaver: ls, get, and a refused put',
    { skip: !has('cadaver') && 'cadaver is not installed (apt-get install cadaver)' },
    async () => {
      const home = join(scratch, 'cadaver-home');
      mkdirSync(home, { recursive: true });
      writeFileSync(join(home, '.netrc'), `machine 127.0.0.1\nlogin ${A}\npassword ${pinA}\n`, { mode: 0o600 });
      const name = (await latestNames()).find((n) => /^[\w .()-]+$/.test(n))!;
      const dest = join(home, 'got.bin');
      const script = `ls\ncd latest\nls\nget "${name}" ${dest}\nput ${join(home, '.netrc')} x.txt\nquit\n`;
      const r = await run('cadaver', [`${srv.url}/dav/me/`], { input: script, env: { ...process.env, HOME: home } });
      const out = r.stdout + r.stderr;
      assert.match(out, /Listing collection `\/dav\/me\/': succeeded/);
      assert.ok(out.includes(`Coll:   ${dateA}`) && /Coll:\s+Documents/.test(out), out);
      assert.ok(out.includes(name), 'the file in the listing');
      assert.match(out, /Uploading .* failed:\s+405 Method Not Allowed/);
      const viaHttp = Buffer.from(
        await (await dav(`/dav/me/latest/${encodeURIComponent(name)}`, { user: A, pass: pinA })).arrayBuffer(),
      );
      assert.deepEqual(readFileSync(dest), viaHttp);
    },
  );

  test('davfs2: mount read-only, list, read a file', { skip: davfsSkip() }, async (t) => {
    const conf = join(scratch, 'davfs2');
    const mnt = join(scratch, 'mnt');
    mkdirSync(join(conf, 'cache'), { recursive: true });
    mkdirSync(mnt, { recursive: true });
    // mount.davfs drops to its own user (davfs2) for the cache.
    for (const [d, mode] of [
      [scratch, 0o755],
      [conf, 0o755],
      [join(conf, 'cache'), 0o777],
    ] as const)
      chmodSync(d, mode);
    writeFileSync(join(conf, 'secrets'), `${srv.url}/dav/me/ ${A} ${pinA}\n`, { mode: 0o600 });
    // buf_size 64: davfs2 before 1.7.2 gets EINVAL listing folders on Linux >= 6.16 with its default (davfs2 issue #22).
    writeFileSync(
      join(conf, 'davfs2.conf'),
      `secrets ${join(conf, 'secrets')}\nuse_locks 0\ncache_dir ${join(conf, 'cache')}\nbuf_size 64\n`,
    );
    const m = await run(
      'mount',
      ['-t', 'davfs', '-o', `ro,conf=${join(conf, 'davfs2.conf')}`, `${srv.url}/dav/me/`, mnt],
      { timeoutMs: 60_000 },
    );
    if (m.status !== 0) {
      t.skip(`davfs2: mount failed on this machine: ${m.stderr.trim()}`);
      return;
    }
    try {
      // Asynchronous reads only: the kernel asks davfs2, which asks the server in this process.
      assert.ok((await readdir(mnt)).includes('latest'));
      const name = (await latestNames()).find((n) => /^[\w .()-]+$/.test(n))!;
      const viaHttp = Buffer.from(
        await (await dav(`/dav/me/latest/${encodeURIComponent(name)}`, { user: A, pass: pinA })).arrayBuffer(),
      );
      assert.ok((await readdir(join(mnt, 'latest'))).includes(name));
      assert.deepEqual(await readFile(join(mnt, 'latest', name)), viaHttp);
    } finally {
      await run('umount', [mnt], { timeoutMs: 60_000 });
    }
  });
});

async function latestNames(): Promise<string[]> {
  const x = await (
    await dav('/dav/me/latest/', { method: 'PROPFIND', headers: { Depth: '1' }, user: A, pass: pinA })
  ).text();
  return x
    .split('<D:response>')
    .filter((r) => r.includes('<D:getcontentlength>') && !r.includes('<D:getcontentlength>0<'))
    .map((r) => /<D:displayname>([^<]*)/.exec(r)![1]);
}

function davfsSkip(): string | false {
  if (!has('mount.davfs')) return 'davfs2 is not installed (apt-get install davfs2)';
  if (process.getuid?.() !== 0) return 'mounting davfs2 needs root';
  try {
    lstatSync('/dev/fuse');
  } catch {
    return 'no /dev/fuse on this machine';
  }
  return false;
}
