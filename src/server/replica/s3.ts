/**
 * s3 — the S3 client the replica uses (@aws-sdk/client-s3), set up for any
 * S3-compatible store (Swift s3api, Ceph RGW, MinIO, a cloud).
 *
 * Endpoint, region and credentials come from the standard variables
 * (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
 * or the config file's `s3` block — never from the command line (a secret
 * in argv is visible to every user of the machine through ps).
 *
 * What Swift's s3api needs (shared/tools/README.md): path-style URLs;
 * checksums only "WHEN_REQUIRED" (else bodies go out aws-chunked → 501); and
 * DeleteObjects with a Content-MD5 header ("Content-MD5 … is required for
 * all Multi-Object Delete requests", S3 API reference), which newer SDKs no
 * longer send — added here by a build-step middleware.
 */
import { createHash } from 'node:crypto';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { AppError } from '../../platform/errors.js';

export interface S3Settings {
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface ReplicaUrl {
  bucket: string;
  /** Without leading or trailing '/'; '' for the bucket's root. */
  prefix: string;
}

/** Parses s3://bucket[/prefix]. */
export function parseReplicaUrl(url: string): ReplicaUrl {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new AppError('bad_request', `replica must be s3://bucket/prefix, not ${JSON.stringify(url)}`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '.' || p === '..'))
    throw new AppError('bad_request', `bad replica prefix ${prefix}`);
  return { bucket: m[1], prefix };
}

export function makeS3Client(settings: S3Settings = {}): S3Client {
  const env = process.env;
  // The pinned SDK runs on Node 20; its notice about later releases is not for the school's admin.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = env.AWS_ENDPOINT_URL ?? settings.endpoint;
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? settings.accessKeyId;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? settings.secretAccessKey;
  const cfg: S3ClientConfig = {
    region: env.AWS_REGION ?? settings.region ?? 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
  };
  if (endpoint) cfg.endpoint = endpoint;
  if (accessKeyId && secretAccessKey) cfg.credentials = { accessKeyId, secretAccessKey };
  const client = new S3Client(cfg);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === 'DeleteObjectsCommand' && req.headers && typeof req.body === 'string')
        req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
      return next(args);
    },
    { step: 'build', name: 'contentMd5ForDeleteObjects' },
  );
  return client;
}
