/** Runs test/helpers/train-child.ts in its own process, optionally killing it (not a test file). */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const child = join(root, 'test/helpers/train-child.ts');

/** How a child run ended and what it printed. */
export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: Record<string, unknown>[];
  stderr: string;
}

/** When to send SIGKILL: on an event line, or after a delay in ms. */
export interface KillPlan {
  when?: (e: Record<string, unknown>) => boolean;
  afterMs?: number;
}

/** Runs the training child with `args`; kills it with SIGKILL as `kill` says. */
export function runTrainChild(args: string[], kill: KillPlan = {}): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const events: Record<string, unknown>[] = [];
    let buf = '';
    let stderr = '';
    const timer = kill.afterMs !== undefined ? setTimeout(() => p.kill('SIGKILL'), kill.afterMs) : undefined;
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        if (kill.when?.(e)) p.kill('SIGKILL');
      }
    });
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, events, stderr });
    });
  });
}
