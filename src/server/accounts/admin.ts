/**
 * admin — the school administrator's credentials.
 *
 * `<root>/admin.json` (mode 0600, written atomically) holds the scrypt hash
 * of the admin password (`ds-backup-server admin-password`; there is no
 * default password) and the sha256 hashes of admin API tokens
 * (`ds-backup-server admin-token`, shown once; accounts/tokens.ts). requireAdmin() accepts a
 * Bearer admin token, compared in constant time.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import { writeFileAtomic } from '../../platform/durable.js';
import { bearer } from './auth.js';
import { hashToken, newSecret, safeEqual } from './tokens.js';
import { readJsonState } from '../../platform/fs-errors.js';

interface AdminFile {
  password?: { salt: string; hash: string };
  tokens: string[];
}

export const MIN_PASSWORD = 8;

export class AdminAuth {
  private readonly file: string;

  constructor(root: string) {
    this.file = join(root, 'admin.json');
  }

  /** Absent: no password, no tokens. Damaged: state_damaged (never "no password", which would let anyone set one). */
  private read(): AdminFile {
    const a = readJsonState(this.file, 'admin credentials file') as AdminFile | null;
    return a ?? { tokens: [] };
  }

  private write(a: AdminFile): void {
    writeFileAtomic(this.file, JSON.stringify(a, null, 2) + '\n', 0o600);
  }

  hasPassword(): boolean {
    return Boolean(this.read().password);
  }

  setPassword(password: string): void {
    if (password.length < MIN_PASSWORD)
      throw new AppError('bad_request', `the admin password needs at least ${MIN_PASSWORD} characters`);
    const salt = randomBytes(16);
    const a = this.read();
    a.password = { salt: salt.toString('hex'), hash: scryptSync(password, salt, 32).toString('hex') };
    this.write(a);
  }

  checkPassword(password: string): boolean {
    const p = this.read().password;
    if (!p) return false;
    const got = scryptSync(password, Buffer.from(p.salt, 'hex'), 32);
    const want = Buffer.from(p.hash, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /** Creates an admin API token; only its hash is kept. */
  newToken(): string {
    const token = `admin.${newSecret()}`;
    const a = this.read();
    a.tokens.push(hashToken(token));
    this.write(a);
    return token;
  }

  checkToken(token: string): boolean {
    const h = hashToken(token);
    // Every stored hash is compared (no early exit), each in constant time.
    return this.read().tokens.reduce((hit, t) => safeEqual(t, h) || hit, false);
  }

  /** Throws 401 unless the request carries an admin token. */
  requireAdmin(req: FastifyRequest): void {
    const t = bearer(req);
    if (!t || !this.checkToken(t))
      throw new AppError('unauthorized', 'this needs an admin token (ds-backup-server admin-token)');
  }
}
