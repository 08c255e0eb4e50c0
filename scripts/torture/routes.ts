/**
 * routes — the server's route table as the running app registered it: a
 * real app is built (src/server/http/app.ts, on a scratch root), made ready,
 * and its Fastify `printRoutes` tree is read back into "METHOD /pattern"
 * rows. The fuzzer and the auth matrix iterate over this table, so a route
 * added to the server is fuzzed and must be given an expected access row.
 */
import { buildServer } from '../../src/server/http/app.js';
import { DEFAULTS } from '../../src/server/config.js';
import { cleanup, tmp } from '../../test/helpers/harness.js';

export interface Route {
  method: string;
  url: string;
}

/** (method, url) of every route, read from Fastify's printRoutes tree ("├── /seg (GET, POST)" lines). */
export function parsePrintedRoutes(text: string): Route[] {
  const out: Route[] = [];
  const stack: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const url = stack.join('');
    for (const method of m[3]?.split(', ') ?? []) out.push({ method, url });
  }
  return out;
}

/** Every route of a freshly built server (HEAD rows of GET routes left out), sorted. */
export async function routeTable(): Promise<Route[]> {
  const root = tmp('torture-routes');
  const { app } = buildServer({ ...DEFAULTS, root, host: '127.0.0.1', port: 0 }, { logger: false });
  try {
    await app.ready();
    // printRoutes drops the "/" before a wildcard segment ("dav" + "*"); hasRoute says which form is real.
    const all = parsePrintedRoutes(app.printRoutes({ commonPrefix: false })).map((r) =>
      !app.hasRoute({ method: r.method as 'GET', url: r.url }) && /[^/]\*$/.test(r.url)
        ? { ...r, url: r.url.replace(/\*$/, '/*') }
        : r,
    );
    const missing = all.filter((r) => !app.hasRoute({ method: r.method as 'GET', url: r.url }));
    if (missing.length) throw new Error(`route table: cannot read back ${missing.map(routeKey).join(', ')}`);
    const gets = new Set(all.filter((r) => r.method === 'GET').map((r) => r.url));
    return all
      .filter((r) => !(r.method === 'HEAD' && gets.has(r.url)))
      .sort((a, b) => (a.url + a.method).localeCompare(b.url + b.method));
  } finally {
    await app.close();
    cleanup(root);
  }
}

export const routeKey = (r: Route) => `${r.method} ${r.url}`;
