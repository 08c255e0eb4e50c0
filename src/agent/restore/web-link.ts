/**
 * web-link — the laptop's way into the restore web pages.
 *
 * requestWebLink() asks the server (with this laptop's token) for a
 * one-time sign-in link: single use, valid a few minutes. openInBrowser()
 * hands it to the first browser that starts: $BROWSER, xdg-open, then
 * Sugar's Browse (sugar-launch org.laptop.WebActivity --uri URL).
 * fetchRestoreCode() reads the laptop's restore code (for signing in from
 * another device).
 */
import { spawn } from 'node:child_process';
import { API } from '../../protocol/api.js';
import type { ApiClient } from '../client.js';

export async function requestWebLink(client: ApiClient): Promise<{ url: string; expiresAt: number }> {
  const r = await client.call(API.webLink, {});
  const base = client.base.href.replace(/\/$/, '');
  return { url: `${base}${r.path}`, expiresAt: r.expiresAt };
}

export async function fetchRestoreCode(client: ApiClient, token?: string): Promise<string> {
  return (await client.call(API.restoreCode, {}, token ? { token } : {})).restoreCode;
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
