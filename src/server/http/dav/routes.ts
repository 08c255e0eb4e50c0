/**
 * dav/routes — read-only WebDAV at /dav/ (RFC 4918 class 1, no locking), as
 * Fastify routes over the virtual tree of tree.ts. Why not a library:
 * webdav-server (v2) and nephele own the HTTP server or an Express app and
 * model a writable filesystem with locks and dead properties; the read-only
 * subset below is small, and every line of it answers a sentence quoted here.
 *
 *   OPTIONS              DAV: 1, Allow (no sign-in needed: it reveals nothing)
 *   PROPFIND Depth 0/1   207 Multi-Status with the live properties clients use
 *   GET / HEAD           the file (streamed from the pool, Range → 206), or a
 *                        small HTML index of a folder
 *   PUT DELETE MKCOL MOVE COPY PROPPATCH LOCK UNLOCK POST PATCH → 405 + Allow
 *
 * Every other request signs in first (auth.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import type { ServerContext } from '../context.js';
import { html } from '../web/html.js';
import { DavAuth, REALM } from './auth.js';
import { poolContent, type DavContent } from './content.js';
import { decideRange } from './range.js';
import { DavTree, type DavFile, type DavNode, type Viewer } from './tree.js';
import { escapeXml, multistatus, parsePropfind, propXml, type PropfindRequest, type XName } from './xml.js';

const NEW_METHODS = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK'];
const WRITE_METHODS = ['PUT', 'DELETE', 'MKCOL', 'MOVE', 'COPY', 'PROPPATCH', 'LOCK', 'UNLOCK', 'POST', 'PATCH'];
const ALLOW = 'OPTIONS, GET, HEAD, PROPFIND';
const MAX_PROPFIND_BODY = 64 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    davViewer?: Viewer;
  }
}

/** Decoded path components below /dav/, and whether the URL ended in "/". */
function davPath(url: string): { segments: string[]; slash: boolean } {
  const path = url.split(/[?#]/)[0].replace(/^\/dav/, '');
  const segments: string[] = [];
  for (const raw of path.split('/').filter(Boolean)) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      throw new AppError('bad_request', 'bad percent-encoding in the path');
    }
    if (s === '.' || s === '..' || s.includes('/') || s.includes('\0'))
      throw new AppError('bad_request', 'bad path component');
    segments.push(s);
  }
  return { segments, slash: path.endsWith('/') };
}

const hrefOf = (segments: string[], dir: boolean) =>
  `/dav/${segments.map((s) => encodeURIComponent(s)).join('/')}${dir && segments.length ? '/' : ''}`;

/** Live properties of a node: local name (in DAV:) → XML value. */
function liveProps(node: DavNode): Map<string, string> {
  const p = new Map<string, string>([
    ['displayname', escapeXml(node.name || 'dav')],
    ['resourcetype', node.kind === 'dir' ? '<D:collection/>' : ''],
    // §15.7 getlastmodified: "rfc1123-date"; §15.1 creationdate: RFC 3339 date-time.
    ['getlastmodified', new Date(node.mtime).toUTCString()],
    ['creationdate', new Date(node.mtime).toISOString().replace(/\.\d{3}Z$/, 'Z')],
    // §15.10 supportedlock / §15.8 lockdiscovery: empty — this server grants no locks.
    ['supportedlock', ''],
    ['lockdiscovery', ''],
  ]);
  if (node.kind === 'file') {
    p.set('getcontentlength', String(node.size));
    p.set('getcontenttype', escapeXml(node.mime));
    p.set('getetag', escapeXml(node.etag));
  }
  return p;
}

/**
 * §9.1: "allprop … return the values of properties defined in this
 * document"; "propname … return property names, and not values"; for "prop",
 * a property the resource lacks goes in a propstat with 404 (Not Found).
 */
function propstats(node: DavNode, q: PropfindRequest) {
  const live = liveProps(node);
  const dav = (local: string): XName => ({ ns: 'DAV:', local });
  if (q.type === 'allprop')
    return [{ status: 'HTTP/1.1 200 OK', props: [...live].map(([k, v]) => propXml(dav(k), v)) }];
  if (q.type === 'propname')
    return [{ status: 'HTTP/1.1 200 OK', props: [...live.keys()].map((k) => propXml(dav(k))) }];
  const found: string[] = [];
  const missing: string[] = [];
  for (const n of q.names) {
    const v = n.ns === 'DAV:' ? live.get(n.local) : undefined;
    if (v === undefined) missing.push(propXml(n));
    else found.push(propXml(n, v));
  }
  return [
    { status: 'HTTP/1.1 200 OK', props: found },
    { status: 'HTTP/1.1 404 Not Found', props: missing },
  ];
}

async function readBody(body: unknown): Promise<string> {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body.toString();
  if (typeof body === 'object' && Symbol.asyncIterator in body) {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > MAX_PROPFIND_BODY) throw new AppError('too_large', 'PROPFIND body too large');
      parts.push(c);
    }
    return Buffer.concat(parts).toString('utf8');
  }
  return JSON.stringify(body);
}

export function davRoutes(app: FastifyInstance, ctx: ServerContext): void {
  for (const m of NEW_METHODS) app.addHttpMethod(m, { hasBody: true });
  const content: DavContent = poolContent(ctx.store.pool);
  const auth = new DavAuth(ctx.store, ctx.config.davAllowHttp);
  const tree = new DavTree(ctx.store.db, content);

  const propfind = async (req: FastifyRequest, reply: FastifyReply, viewer: Viewer) => {
    const { segments } = davPath(req.raw.url ?? '');
    const node = await tree.resolve(viewer, segments);
    if (!node) return reply.status(404).type('text/plain').send('not found\n');
    // §10.2: "Servers SHOULD treat a request without a Depth header as if a
    // 'Depth: infinity' header was included." §9.1: a server may refuse
    // infinity "with a 403 (Forbidden) … containing the DAV:propfind-finite-depth precondition code".
    const depth = String(req.headers.depth ?? 'infinity').toLowerCase();
    if (!['0', '1', 'infinity'].includes(depth)) throw new AppError('bad_request', 'Depth must be 0, 1 or infinity');
    if (depth === 'infinity' && node.kind === 'dir')
      return reply
        .status(403)
        .type('application/xml; charset=utf-8')
        .send('<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n');
    const q = parsePropfind(await readBody(req.body));
    const dir = node.kind === 'dir';
    const responses = [{ href: hrefOf(segments, dir), propstats: propstats(node, q) }];
    if (dir && depth === '1')
      for (const c of await node.children())
        responses.push({ href: hrefOf([...segments, c.name], c.kind === 'dir'), propstats: propstats(c, q) });
    return reply.status(207).type('application/xml; charset=utf-8').send(multistatus(responses));
  };

  const sendFile = async (req: FastifyRequest, reply: FastifyReply, f: DavFile) => {
    const size = await content.size(f.ref);
    if (size < 0) throw new AppError('not_found', 'this file is missing from the store');
    reply
      .header('Accept-Ranges', 'bytes')
      .header('ETag', f.etag)
      .header('Last-Modified', new Date(f.mtime).toUTCString())
      .header('Cache-Control', 'private, no-cache')
      .header('X-Content-Type-Options', 'nosniff')
      .header('Content-Security-Policy', "default-src 'none'; sandbox")
      .type(f.mime);
    // RFC 9110 §13.1.2: If-None-Match matching → 304 (Not Modified) for GET and HEAD.
    const inm = req.headers['if-none-match'];
    if (inm && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === f.etag)))
      return reply.status(304).send();
    const ifRange = req.headers['if-range'] as string | undefined;
    const r = decideRange(req.headers.range, size, ifRange, f.etag, f.mtime);
    if (r.kind === 'unsatisfiable')
      return reply
        .status(416)
        .header('Content-Range', `bytes */${size}`)
        .type('text/plain')
        .send('range not satisfiable\n');
    const [start, end] = r.kind === 'partial' ? [r.start, r.end] : [0, size - 1];
    if (r.kind === 'partial') reply.status(206).header('Content-Range', `bytes ${start}-${end}/${size}`);
    reply.header('Content-Length', String(end - start + 1));
    if (req.method === 'HEAD' || size === 0) return reply.send();
    return reply.send(content.open(f.ref, start, end));
  };

  const index = (segments: string[], children: DavNode[], node: DavNode & { kind: 'dir' }) =>
    html`<!doctype html>
      <meta charset="utf-8" />
      <title>${node.name || 'ds-backup'}</title>
      <h1>${node.name || 'ds-backup'}</h1>
      <ul>
        ${children.map((c) => html`<li><a href="${hrefOf([...segments, c.name], c.kind === 'dir')}">${c.name}${c.kind === 'dir' ? '/' : ''}</a></li>`)}
      </ul>`;

  const get = async (req: FastifyRequest, reply: FastifyReply, viewer: Viewer) => {
    const { segments } = davPath(req.raw.url ?? '');
    const node = await tree.resolve(viewer, segments);
    if (!node) return reply.status(404).type('text/plain').send('not found\n');
    if (node.kind === 'file') return sendFile(req, reply, node);
    const page = String(index(segments, await node.children(), node));
    reply.type('text/html; charset=utf-8').header('Content-Length', String(Buffer.byteLength(page)));
    return req.method === 'HEAD' ? reply.send() : reply.send(page);
  };

  app.register(async (dav) => {
    // Bodies stay unread streams: PROPFIND reads its own (bounded), refusals never read one.
    dav.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    dav.addHook('onRequest', async (req, reply) => {
      if (req.method === 'OPTIONS') return;
      const a = auth.check(req);
      if (a.ok) {
        req.davViewer = a.viewer;
        return;
      }
      if (a.status === 401) reply.header('WWW-Authenticate', `Basic realm="${REALM}", charset="UTF-8"`);
      if (a.retryAfterSec) reply.header('Retry-After', String(a.retryAfterSec));
      return reply.status(a.status).type('text/plain; charset=utf-8').send(`${a.message}\n`);
    });
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const viewer = req.davViewer!;
      switch (req.method) {
        // §10.1: "All DAV-compliant resources MUST return the DAV header with
        // compliance-class '1' on all OPTIONS responses." (class 2 needs LOCK.)
        case 'OPTIONS':
          return reply.status(200).header('DAV', '1').header('Allow', ALLOW).header('MS-Author-Via', 'DAV').send();
        case 'PROPFIND':
          return propfind(req, reply, viewer);
        case 'GET':
        case 'HEAD':
          return get(req, reply, viewer);
        default:
          // RFC 9110 §15.5.6: "The origin server MUST generate an Allow header
          // field in a 405 response containing a list of the target resource's
          // currently supported methods."
          return reply
            .status(405)
            .header('Allow', ALLOW)
            .type('text/plain; charset=utf-8')
            .send('the backups are read-only\n');
      }
    };
    const methods = ['OPTIONS', 'PROPFIND', 'GET', 'HEAD', ...WRITE_METHODS];
    for (const url of ['/dav', '/dav/*']) dav.route({ method: methods, url, exposeHeadRoute: false, handler });
  });
}
