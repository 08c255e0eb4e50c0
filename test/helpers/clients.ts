/**
 * clients — running the real third-party programs the tests judge the
 * server with (litmus, rclone, cadaver, promtool, prometheus, mount.davfs).
 * runClient() never blocks: the server under test lives in the test's own
 * process, so a synchronous spawn would deadlock against it.
 */
import { spawn, spawnSync } from 'node:child_process';

export const installed = (bin: string): boolean => spawnSync('which', [bin]).status === 0;

export interface ClientResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runClient(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ClientResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
  });
}
