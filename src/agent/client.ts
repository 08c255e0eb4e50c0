/**
 * client — the agent's HTTP client for the /api/v1 protocol.
 *
 * node:http(s) with one keep-alive agent (a few sockets) to the server; JSON
 * in and out; server errors `{error, message}` come back as AppError with
 * the same code (503 carries Retry-After). Counts the bytes it sends and
 * receives so the agent can report what crossed the network. (node:http is
 * part of node's startup snapshot; undici cost ~0.3 s of module loading per
 * run, more than a whole unchanged backup should take — BENCHMARKS.md.)
 *
 * A body may be a Buffer (sent with Content-Length), a stream / async
 * iterable of Buffers, or a producer function that writes it (sent chunked). An error thrown by the body's source
 * (e.g. a file that changed while being read) is rethrown as is; network
 * failures become AppError('unavailable').
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type https from 'node:https';

/** node:https (and TLS) is loaded only for an https:// server: most schools' servers speak plain HTTP on the LAN. */
const loadHttps = () => createRequire(import.meta.url)('node:https') as typeof https;
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, ERROR_STATUS, type ErrorCode } from '../platform/errors.js';
import {
  apiPath,
  type Endpoint,
  type EndpointAnswer,
  type EndpointRequest,
  type ErrorBody,
  type HttpMethod,
  type RouteParams,
} from '../protocol/api.js';

export type { HttpMethod };

/** Writes a request body itself (backpressure and write callbacks are its business); the client ends the request. */
export type BodyProducer = (out: Writable) => Promise<void>;

export interface RequestOptions {
  json?: unknown;
  body?: Buffer | AsyncIterable<Buffer> | NodeJS.ReadableStream | BodyProducer;
  headers?: Record<string, string>;
  token?: string | null;
}

/** A response body: iterate it for bytes, or read it whole. */
export class ResponseBody implements AsyncIterable<Buffer> {
  constructor(private msg: IncomingMessage) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.msg[Symbol.asyncIterator]();
  }

  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of this.msg) parts.push(c as Buffer);
    return Buffer.concat(parts).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async dump(): Promise<void> {
    this.msg.resume();
    if (!this.msg.complete) await new Promise<void>((ok) => this.msg.once('end', ok).once('close', ok));
  }
}

export interface ResponseData {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

const TIMEOUT_MS = 300_000;

export class ApiClient {
  readonly base: URL;
  private agent: http.Agent;
  private mod: typeof http | typeof https;
  sentBytes = 0;
  receivedBytes = 0;

  constructor(
    server: string,
    private token: string | null = null,
    connections = 4,
  ) {
    this.base = new URL(server);
    if (!/^https?:$/.test(this.base.protocol))
      throw new AppError('bad_request', `server URL must be http:// or https://, not ${server}`);
    const tls = this.base.protocol === 'https:' ? loadHttps() : null;
    this.mod = tls ?? http;
    const agentOpts = { keepAlive: true, maxSockets: connections, keepAliveMsecs: 30_000 };
    this.agent = tls ? new tls.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  private headers(opts: RequestOptions): Record<string, string> {
    const h: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) h.authorization = `Bearer ${token}`;
    if (opts.json !== undefined) h['content-type'] = 'application/json';
    else if (opts.body !== undefined) h['content-type'] ??= 'application/octet-stream';
    return h;
  }

  private path(p: string): string {
    return this.base.pathname.replace(/\/$/, '') + p;
  }

  /** Sends a request and returns the raw response (status checked). */
  async raw(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<ResponseData> {
    const body = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body;
    const headers = this.headers(opts);
    if (Buffer.isBuffer(body)) {
      this.sentBytes += body.length;
      headers['content-length'] = String(body.length);
    } else if (body === undefined && method !== 'GET' && method !== 'HEAD') headers['content-length'] = '0';
    let sourceError: unknown = null;
    let msg: IncomingMessage;
    try {
      msg = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = this.mod.request(
          {
            agent: this.agent,
            protocol: this.base.protocol,
            hostname: this.base.hostname,
            port: this.base.port,
            method,
            path: this.path(path),
            headers,
          },
          resolve,
        );
        req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer for ${TIMEOUT_MS / 1000} s`)));
        req.on('error', reject);
        if (body === undefined) req.end();
        else if (Buffer.isBuffer(body)) req.end(body);
        else if (typeof body === 'function') {
          body(req).then(
            () => req.end(),
            (e: unknown) => {
              sourceError = e;
              req.destroy();
              reject(e);
            },
          );
        } else {
          // highWaterMark 1: read one blob ahead, not 16 (a 4 MiB blob each: that was most of the peak RSS).
          const src =
            body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>, { highWaterMark: 1 });
          src.once('error', (e) => (sourceError = e));
          pipeline(src, req).catch((e: unknown) => {
            req.destroy();
            reject(sourceError ?? e);
          });
        }
      });
    } catch (e) {
      if (sourceError && e === sourceError) throw e;
      throw new AppError('unavailable', `cannot reach the server at ${this.base.origin}: ${(e as Error).message}`);
    }
    const res: ResponseData = { statusCode: msg.statusCode ?? 0, headers: msg.headers, body: new ResponseBody(msg) };
    if (res.statusCode >= 400) throw await this.error(res);
    return res;
  }

  private async error(res: ResponseData): Promise<AppError> {
    let code: ErrorCode = res.statusCode === 503 ? 'busy' : res.statusCode >= 500 ? 'internal' : 'bad_request';
    let message = `server answered ${res.statusCode}`;
    let details: Record<string, unknown> | undefined;
    try {
      const j = (await res.body.json()) as Partial<ErrorBody>;
      if (j.error && j.error in ERROR_STATUS) code = j.error as ErrorCode;
      if (j.message) message = j.message;
      details = j.details;
    } catch {
      /* not a JSON error body (a proxy's page): the status alone decides */
    }
    const ra = Number(res.headers['retry-after']);
    return new AppError(code, message, { details, retryAfter: Number.isFinite(ra) ? ra : undefined });
  }

  async json<T>(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    if (res.statusCode === 204) {
      await res.body.dump();
      return undefined as T;
    }
    const text = await res.body.text();
    this.receivedBytes += text.length;
    return JSON.parse(text) as T;
  }

  /**
   * A JSON request to an endpoint of protocol/api.ts: the path is built from
   * its pattern and `params`, the body (`json`) and the answer are typed by it.
   */
  call<U extends string, E extends Endpoint<U>>(
    e: E & Endpoint<U>,
    params: Record<RouteParams<U>, string>,
    opts: Omit<RequestOptions, 'json'> & { json?: EndpointRequest<E> } = {},
  ): Promise<EndpointAnswer<E>> {
    return this.json<EndpointAnswer<E>>(e.method, apiPath(e, params), opts);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
