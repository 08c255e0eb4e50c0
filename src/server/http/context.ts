/**
 * context — what every route of a running server shares: the store, the
 * admission state, the configuration it was started with and the upload
 * bandwidth bucket.
 */
import type { Admission } from '../admission/admission.js';
import type { TokenBucket } from '../admission/bandwidth.js';
import type { ServerConfig } from '../config.js';
import type { Store } from '../store/store.js';

export interface ServerContext {
  store: Store;
  admission: Admission;
  config: ServerConfig;
  /** Server-wide upload bandwidth cap (rate 0 = none). */
  bandwidth: TokenBucket;
}
