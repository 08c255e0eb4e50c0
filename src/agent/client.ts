/**
 * client — the agent's HTTP client for the /api/v1 protocol.
 *
 * One undici pool of keep-alive connections to the server; JSON in and out;
 * server errors `{error, message}` come back as AppError with the same code
 * (503 carries Retry-After). Counts the bytes it sends and receives so the
 * agent can report what crossed the network.
 */
import { Pool, type Dispatcher } from 'undici';
import { AppError, ERROR_STATUS, type ErrorCode } from '../common/errors.js';

export interface RequestOptions {
  json?: unknown;
  body?: Buffer | AsyncIterable<Buffer> | NodeJS.ReadableStream;
  headers?: Record<string, string>;
  token?: string | null;
}

export class ApiClient {
  readonly base: URL;
  private pool: Pool;
  sentBytes = 0;
  receivedBytes = 0;

  constructor(server: string, private token: string | null = null, connections = 4) {
    this.base = new URL(server);
    if (!/^https?:$/.test(this.base.protocol)) throw new AppError('bad_request', `server URL must be http:// or https://, not ${server}`);
    this.pool = new Pool(this.base.origin, { connections, keepAliveTimeout: 30_000, bodyTimeout: 300_000, headersTimeout: 300_000 });
  }

  private headers(opts: RequestOptions): Record<string, string> {
    const h: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) h.authorization = `Bearer ${token}`;
    if (opts.json !== undefined) h['content-type'] = 'application/json';
    else if (opts.body !== undefined) h['content-type'] = 'application/octet-stream';
    return h;
  }

  private path(p: string): string {
    return this.base.pathname.replace(/\/$/, '') + p;
  }

  /** Sends a request and returns the raw response (status checked). */
  async raw(method: Dispatcher.HttpMethod, path: string, opts: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
    const body = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body;
    if (Buffer.isBuffer(body)) this.sentBytes += body.length;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({ method, path: this.path(path), headers: this.headers(opts), body: body as Dispatcher.DispatchOptions['body'] });
    } catch (e) {
      throw new AppError('unavailable', `cannot reach the server at ${this.base.origin}: ${(e as Error).message}`);
    }
    if (res.statusCode >= 400) throw await this.error(res);
    return res;
  }

  private async error(res: Dispatcher.ResponseData): Promise<AppError> {
    let code: ErrorCode = res.statusCode === 503 ? 'busy' : res.statusCode >= 500 ? 'internal' : 'bad_request';
    let message = `server answered ${res.statusCode}`;
    let details: Record<string, unknown> | undefined;
    try {
      const j = (await res.body.json()) as { error?: string; message?: string; details?: Record<string, unknown> };
      if (j.error && j.error in ERROR_STATUS) code = j.error as ErrorCode;
      if (j.message) message = j.message;
      details = j.details;
    } catch {
      /* not JSON */
    }
    const ra = Number(res.headers['retry-after']);
    return new AppError(code, message, { details, retryAfter: Number.isFinite(ra) ? ra : undefined });
  }

  async json<T>(method: Dispatcher.HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    if (res.statusCode === 204) {
      await res.body.dump();
      return undefined as T;
    }
    const text = await res.body.text();
    this.receivedBytes += text.length;
    return JSON.parse(text) as T;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
