/**
 * web-link — the laptop's way into the restore web pages.
 *
 * requestWebLink() asks the server (with this laptop's token) for a
 * one-time sign-in link: single use, valid a few minutes. openInBrowser()
 * hands it to the first browser that starts: $BROWSER, xdg-open, then
 * Sugar's Browse (sugar-launch org.laptop.WebActivity --uri URL).
 * fetchRestoreCode() reads the laptop's restore code (for signing in from
 * another device); currentRestoreCode() asks for it with a short timeout
 * (`ds-backup status`).
 */
import { spawn } from 'node:child_process';
import { API } from '../../protocol/api.js';
import { ApiClient } from '../client.js';
import type { Profile } from '../profile.js';

export async function requestWebLink(client: ApiClient): Promise<{ url: string; expiresAt: number }> {
  const r = await client.call(API.webLink, {});
  const base = client.base.href.replace(/\/$/, '');
  return { url: `${base}${r.path}`, expiresAt: r.expiresAt };
}

export async function fetchRestoreCode(client: ApiClient, token?: string): Promise<string> {
  return (await client.call(API.restoreCode, {}, token ? { token } : {})).restoreCode;
}

/**
 * The restore code the server holds now (the admin may have reset it since
 * registration), or null when the server does not answer within `ms`.
 */
export async function currentRestoreCode(profile: Profile, ms = 5000): Promise<string | null> {
  const cfg = profile.readConfig();
  if (!cfg) return null;
  const client = new ApiClient(cfg.server, cfg.token, 1);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fetchRestoreCode(client),
      new Promise<null>((ok) => {
        timer = setTimeout(() => ok(null), ms);
      }),
    ]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}

function tryOpen(cmd: string, args: string[]): Promise<boolean> {
  return new Promise((res) => {
    try {
      const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
      child.once('error', () => res(false));
      child.once('spawn', () => {
        child.unref();
        res(true);
      });
    } catch {
      res(false); // could not start the browser: the caller prints the link instead
    }
  });
}

/** Opens `url` in a browser; answers the command that worked, or null. */
export async function openInBrowser(url: string): Promise<string | null> {
  const candidates: Array<[string, string[]]> = [];
  if (process.env.BROWSER) candidates.push([process.env.BROWSER, [url]]);
  candidates.push(['xdg-open', [url]], ['sugar-launch', ['org.laptop.WebActivity', '--uri', url]]);
  for (const [cmd, args] of candidates) if (await tryOpen(cmd, args)) return cmd;
  return null;
}
