/**
 * context — what every route of a running server shares: the store, the
 * admission state and the configuration it was started with.
 */
import type { Admission } from './admission.js';
import type { ServerConfig } from './config.js';
import type { Store } from './store.js';

export interface ServerContext {
  store: Store;
  admission: Admission;
  config: ServerConfig;
}
