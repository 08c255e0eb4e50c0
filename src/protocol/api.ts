/**
 * api — the /api/v1 endpoints, one definition for both sides (issue #11).
 *
 * Each endpoint is its method and its route pattern in Fastify's `:param`
 * form. The server registers exactly these (`app.post(API.commit.url, …)`);
 * the agent builds its request paths from the same patterns
 * (`apiPath(API.commit, { lease })`), and `ApiClient.call` types the JSON
 * body and answer from the endpoint (api-types.ts). test/protocol-contract.test.ts
 * checks that every endpoint here is a route of the running server.
 *
 * Errors travel as `{error, message, details?}` (ErrorBody) with the stable
 * codes of platform/errors.ts.
 */
import type * as T from './api-types.js';

export type { ErrorCode } from '../platform/errors.js';
export type { ErrorBody } from './api-types.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

/** One endpoint; Req and Res exist for the type checker only (the JSON request and answer). */
export interface Endpoint<U extends string = string, Req = unknown, Res = unknown> {
  readonly method: HttpMethod;
  readonly url: U;
  /** Phantom: never set. */
  readonly _types?: { req: Req; res: Res };
}

/** `:param` names of a route pattern, as a union of string literals. */
export type RouteParams<U extends string> = U extends `${string}:${infer P}/${infer Rest}`
  ? P | RouteParams<`/${Rest}`>
  : U extends `${string}:${infer P}`
    ? P
    : never;

export type EndpointRequest<E> = E extends Endpoint<string, infer Req, unknown> ? Req : never;
export type EndpointAnswer<E> = E extends Endpoint<string, unknown, infer Res> ? Res : never;

/** Body and answer types are given first; the pattern is inferred from the literal. */
const ep =
  <Req = void, Res = unknown>() =>
  <U extends string>(method: HttpMethod, url: U): Endpoint<U, Req, Res> => ({ method, url });

const V1 = '/api/v1';

export const API = {
  ping: ep<void, T.PingAnswer>()('GET', `${V1}/ping`),
  register: ep<T.RegisterRequest, T.RegisterAnswer>()('POST', `${V1}/devices`),

  // backups under a lease (server/http/api/backups.ts)
  lease: ep<void, T.LeaseAnswer>()('POST', `${V1}/backups`),
  heartbeat: ep<void, T.HeartbeatAnswer>()('POST', `${V1}/backups/:lease/heartbeat`),
  abort: ep<void, void>()('DELETE', `${V1}/backups/:lease`),
  missing: ep<T.MissingRequest, T.MissingAnswer>()('POST', `${V1}/backups/:lease/missing`),
  /** Answers to a `missing` challenge: proof of possession (protocol/proof.ts). */
  proofs: ep<T.ProofsRequest, T.ProofsAnswer>()('POST', `${V1}/backups/:lease/proofs`),
  /** Body: frames (protocol/frames.ts), application/octet-stream. */
  blobs: ep<never, T.BatchAnswer>()('POST', `${V1}/backups/:lease/blobs`),
  uploadOffset: ep<void, T.UploadAnswer>()('GET', `${V1}/backups/:lease/uploads/:id`),
  /** Body: bytes from Upload-Offset; Upload-Length = the blob's size. */
  upload: ep<never, T.UploadAnswer>()('PATCH', `${V1}/backups/:lease/uploads/:id`),
  treesAhead: ep<T.TreesAheadRequest, T.TreesAheadAnswer>()('POST', `${V1}/backups/:lease/trees`),
  commit: ep<T.CommitRequest, T.CommitAnswer>()('POST', `${V1}/backups/:lease/commit`),

  // reading back (server/http/api/restore.ts)
  snapshots: ep<void, T.SnapshotsAnswer>()('GET', `${V1}/snapshots`),
  snapshotEntries: ep<void, T.SnapshotEntriesAnswer>()('GET', `${V1}/snapshots/:serial/:name/entries`),
  trees: ep<T.IdsRequest, T.TreesAnswer>()('POST', `${V1}/trees`),
  /** Answer: frames of the blobs, streamed. */
  blobsFetch: ep<T.IdsRequest, never>()('POST', `${V1}/blobs/fetch`),
  /** Answer: the blob's bytes, streamed. */
  blob: ep<void, never>()('GET', `${V1}/blobs/:id`),

  // pins (server/http/api/pins.ts)
  pins: ep<void, T.PinsAnswer>()('GET', `${V1}/pins`),
  addPin: ep<T.AddPinRequest, T.PinView>()('POST', `${V1}/pins`),
  removePin: ep<void, void>()('DELETE', `${V1}/pins/:id`),

  // the laptop's way into the web pages (server/http/web/device-api.ts)
  webLink: ep<void, T.WebLinkAnswer>()('POST', `${V1}/web-links`),
  restoreCode: ep<void, T.RestoreCodeAnswer>()('GET', `${V1}/restore-code`),
  /** The restore code's old path, kept for agents installed before the rename. */
  restorePin: ep<void, T.RestorePinAnswer>()('GET', `${V1}/pin`),

  // why a scheduled run did not back up, for the admin's dashboard (server/http/api/reports.ts)
  report: ep<T.ReportRequest, void>()('POST', `${V1}/reports`),

  // operators (server/http/api/status.ts)
  status: ep<void, unknown>()('GET', `${V1}/status`),
} as const;

export type ApiName = keyof typeof API;

/**
 * The request path of an endpoint: its pattern with each `:param` replaced
 * by the (URL-encoded) value. Every parameter must be given.
 */
export function apiPath<U extends string>(e: Endpoint<U>, params: Record<RouteParams<U>, string>): string {
  const p = params as Record<string, string>;
  return e.url.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const v = p[name];
    if (v === undefined) throw new Error(`${e.url}: no value for :${name}`);
    return encodeURIComponent(v);
  });
}

/** Is this request (method, matched route pattern) the endpoint? For hooks that read req.routeOptions.url. */
export function isEndpoint(e: Endpoint, method: string, routeUrl: string | undefined): boolean {
  return e.method === method && e.url === routeUrl;
}

/** Who may call each endpoint: nobody in particular, a registered laptop (Bearer token), or an admin token. */
export type ApiAuth = 'none' | 'device' | 'admin';
export const API_AUTH: Record<ApiName, ApiAuth> = {
  ping: 'none',
  register: 'none',
  lease: 'device',
  heartbeat: 'device',
  abort: 'device',
  missing: 'device',
  proofs: 'device',
  blobs: 'device',
  uploadOffset: 'device',
  upload: 'device',
  treesAhead: 'device',
  commit: 'device',
  snapshots: 'device',
  snapshotEntries: 'device',
  trees: 'device',
  blobsFetch: 'device',
  blob: 'device',
  pins: 'device',
  addPin: 'device',
  removePin: 'device',
  webLink: 'device',
  restoreCode: 'device',
  report: 'device',
  restorePin: 'device',
  status: 'admin',
};
