/**
 * access — the expected-access table of the auth matrix: every route of the
 * server (routes.ts) has a row naming its policy, and each policy says, per
 * identity, whether the request must be let through or refused. A route
 * without a row, or a row without a route, fails the matrix: a new route
 * cannot ship without someone deciding who may call it.
 */

/** Who is asking; the credentials each sends depend on the route family (matrix.ts). */
export const IDENTITIES = ['none', 'wrong', 'other', 'disabled', 'student', 'admin', 'laptop'] as const;
export type Identity = (typeof IDENTITIES)[number];

/** 'allow': not refused (no 401/403/404/405/410/429, no redirect to sign-in); 'deny': one of those; 'any': only no 5xx. */
export type Expect = 'allow' | 'deny' | 'any';

const row = (allowed: Identity[], any: Identity[] = []): Record<Identity, Expect> =>
  Object.fromEntries(
    IDENTITIES.map((i) => [i, any.includes(i) ? 'any' : allowed.includes(i) ? 'allow' : 'deny']),
  ) as Record<Identity, Expect>;

export const POLICIES = {
  /** Anyone: discovery, registration, sign-in pages, the agent's download, legacy clients (they send no credentials). */
  public: row([], [...IDENTITIES]),
  /** A laptop's token about itself: any registered, enabled laptop may call it for its own data. */
  laptopSelf: row(['laptop', 'other']),
  /** Names the laptop's own lease, blob, snapshot or pin: only that laptop. */
  laptopOwn: row(['laptop']),
  /** Admin API token (GET /api/v1/status, /metrics). */
  adminApi: row(['admin']),
  /** The student's web pages of their laptop: that student, or the admin. */
  studentWeb: row(['student', 'admin']),
  /** The admin's web pages. */
  adminWeb: row(['admin']),
  /** WebDAV of the laptop: Basic with its serial and restore code, or the admin. */
  davOwn: row(['student', 'admin']),
  /** WebDAV root: everyone signed in sees their own list. */
  davRoot: row(['student', 'admin', 'other']),
  /** WebDAV writes: refused for everyone (read-only). */
  davWrite: row([]),
} satisfies Record<string, Record<Identity, Expect>>;
export type Policy = keyof typeof POLICIES;

const DAV_READ = ['GET', 'PROPFIND'];
const DAV_WRITE = ['PUT', 'DELETE', 'MKCOL', 'MOVE', 'COPY', 'PROPPATCH', 'LOCK', 'UNLOCK', 'POST', 'PATCH'];

/** "METHOD /pattern" → policy, for every route the server registers. */
export const ACCESS: Record<string, Policy> = {
  'GET /': 'public',
  'POST /': 'public',
  'POST /RPC2': 'public',
  'GET /favicon.ico': 'public',
  'GET /agent': 'public',
  'GET /agent/': 'public',
  'GET /agent/install': 'public',
  'GET /agent/ds-backup.mjs': 'public',
  'GET /backup/1/available/:sn': 'public',
  'GET /api/v1/ping': 'public',
  'POST /api/v1/devices': 'public',

  'POST /api/v1/backups': 'laptopSelf',
  'POST /api/v1/backups/:lease/heartbeat': 'laptopOwn',
  'DELETE /api/v1/backups/:lease': 'laptopOwn',
  'POST /api/v1/backups/:lease/missing': 'laptopOwn',
  'POST /api/v1/backups/:lease/proofs': 'laptopOwn',
  'POST /api/v1/backups/:lease/blobs': 'laptopOwn',
  'GET /api/v1/backups/:lease/uploads/:id': 'laptopOwn',
  'PATCH /api/v1/backups/:lease/uploads/:id': 'laptopOwn',
  'POST /api/v1/backups/:lease/trees': 'laptopOwn',
  'POST /api/v1/backups/:lease/commit': 'laptopOwn',
  'GET /api/v1/snapshots': 'laptopSelf',
  'GET /api/v1/snapshots/:serial/:name/entries': 'laptopOwn',
  'POST /api/v1/trees': 'laptopOwn',
  'POST /api/v1/blobs/fetch': 'laptopOwn',
  'GET /api/v1/blobs/:id': 'laptopOwn',
  'GET /api/v1/pins': 'laptopSelf',
  'POST /api/v1/pins': 'laptopOwn',
  'DELETE /api/v1/pins/:id': 'laptopOwn',
  'POST /api/v1/web-links': 'laptopSelf',
  'GET /api/v1/restore-code': 'laptopSelf',
  'GET /api/v1/pin': 'laptopSelf',
  'POST /api/v1/reports': 'laptopSelf',
  'GET /api/v1/status': 'adminApi',
  'GET /metrics': 'adminApi',

  'GET /ui': 'public',
  'GET /ui/': 'public',
  'GET /ui/login': 'public',
  'POST /ui/login': 'public',
  'POST /ui/logout': 'public',
  'GET /ui/link/:token': 'public',
  'POST /ui/link/:token': 'public',
  'GET /ui/admin/login': 'public',
  'POST /ui/admin/login': 'public',

  'GET /ui/j/:serial': 'studentWeb',
  'GET /ui/j/:serial/backups': 'studentWeb',
  'GET /ui/j/:serial/b/:sn/:name': 'studentWeb',
  'GET /ui/j/:serial/b/:sn/:name/all.zip': 'studentWeb',
  'GET /ui/j/:serial/b/:sn/:name/all.xob': 'studentWeb',
  'GET /ui/j/:serial/e/:uid': 'studentWeb',
  'GET /ui/j/:serial/v/:id': 'studentWeb',
  'GET /ui/j/:serial/v/:id/data': 'studentWeb',
  'GET /ui/j/:serial/v/:id/entry.xoj': 'studentWeb',
  'GET /ui/j/:serial/v/:id/preview.png': 'studentWeb',
  'POST /ui/j/:serial/pin': 'studentWeb',
  'GET /ui/j/:serial/docs': 'studentWeb',
  'GET /ui/j/:serial/docs/:sn/:name': 'studentWeb',
  'GET /ui/j/:serial/docs/:sn/:name/file': 'studentWeb',

  'GET /ui/admin': 'adminWeb',
  'GET /ui/admin/laptops/:serial': 'adminWeb',
  'POST /ui/admin/laptops/:serial/enable': 'adminWeb',
  'POST /ui/admin/laptops/:serial/archive': 'adminWeb',
  'GET /ui/admin/laptops/:serial/reset-code': 'adminWeb',
  'POST /ui/admin/laptops/:serial/restore-code': 'adminWeb',
  'POST /ui/admin/laptops/:serial/pin': 'adminWeb',
  'POST /ui/admin/laptops/:serial/replace': 'adminWeb',
  'GET /ui/admin/laptops/:serial/delete': 'adminWeb',
  'POST /ui/admin/laptops/:serial/delete': 'adminWeb',

  // OPTIONS says which methods exist, to anyone (clients probe it before signing in).
  'OPTIONS /dav': 'public',
  'OPTIONS /dav/*': 'public',
  ...Object.fromEntries(DAV_READ.map((m) => [`${m} /dav`, 'davRoot'])),
  ...Object.fromEntries(DAV_READ.map((m) => [`${m} /dav/*`, 'davOwn'])),
  ...Object.fromEntries(DAV_WRITE.flatMap((m) => [`${m} /dav`, `${m} /dav/*`].map((k) => [k, 'davWrite']))),
};
