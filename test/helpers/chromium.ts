/**
 * A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (file descriptors 3
 * and 4, NUL-separated JSON), so that the browser tests drive Debian's headless Chromium with no
 * npm dependency (puppeteer-core does the same over the same pipe).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The Chromium executable: $CHROMIUM_PATH, else Debian's. Undefined when there is none. */
export function findChromium(): string | undefined {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

export class Browser {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private buffer = '';
  private stderr = '';
  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const out = child.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffer += chunk;
      let i;
      while ((i = this.buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, i)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
        this.buffer = this.buffer.slice(i + 1);
        const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
        if (!p) continue;
        this.pending.delete(msg.id!);
        if (msg.error) p.reject(new Error(`CDP: ${msg.error.message}`));
        else p.resolve(msg.result ?? {});
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-4000)));
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited (${code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  static launch(executable: string): Browser {
    const profile = mkdtempSync(join(tmpdir(), 'densenet-chromium-'));
    const child = spawn(
      executable,
      ['--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check', `--user-data-dir=${profile}`, '--window-size=800,600', 'about:blank'],
      // Its own process group, so that close() ends its helper processes too.
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true },
    );
    return new Browser(child, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const msg = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.child.stdio[3] as Writable).write(`${msg}\0`);
    });
  }

  /** Opens `url` in a new page; resolves to the page's CDP session id. */
  async open(url: string): Promise<string> {
    const { targetId } = (await this.send('Target.createTarget', { url })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    return sessionId;
  }

  /** Evaluates an expression in the page, awaiting a promise, and returns its JSON value. */
  async evaluate(sessionId: string, expression: string): Promise<unknown> {
    const r = (await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId)) as {
      result: { value?: unknown };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  async screenshot(sessionId: string): Promise<Buffer> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png' }, sessionId)) as { data: string };
    return Buffer.from(data, 'base64');
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send('Browser.close'), new Promise((r) => setTimeout(r, 2000))]);
    } catch {
      /* already gone */
    }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    try {
      process.kill(-this.child.pid!, 'SIGKILL'); // helpers of this browser only (its process group)
    } catch {
      /* none left */
    }
    try {
      rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch {
      /* a helper still writing: leave the temporary profile */
    }
  }
}
