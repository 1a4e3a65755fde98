import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { noNodeBuiltins, REPO_ROOT } from './bundle.js';

/** Debian's chromium (CHROMIUM_PATH overrides), or undefined when none is installed. */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env && existsSync(env)) return env;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) if (existsSync(p)) return p;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const req = createRequire(import.meta.url);
const WASM_DIR = join(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const MNIST_DIR = join(dirname(req.resolve('mnist/package.json')), 'src', 'digits');

/** Bundles a browser entry (TypeScript) with every package resolved through its public, browser entry. */
export async function bundlePage(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [noNodeBuiltins(REPO_ROOT)],
  });
  return r.outputFiles[0]!.text;
}

/**
 * Opens a page at http://localhost:8631/ (a secure context, so COOP/COEP can isolate it) in headless Chromium, served from memory through request routing:
 * `/page.js` (the bundle), `opts.scripts` (more bundles by path, e.g. a worker), `/wasm/*` (tfjs-backend-wasm's binaries), `/mnist/*` (the bundled digits). No network.
 */
export async function openPage(browser: Browser, pageJs: string, opts: { isolated?: boolean; query?: string; scripts?: Record<string, string> } = {}): Promise<Page> {
  const page = await browser.newPage();
  // Cross-origin isolation (what tfjs-wasm's threaded build needs): COOP/COEP on every response.
  const headers: Record<string, string> = opts.isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  await page.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (url.hostname !== 'localhost') return route.abort();
    const p = url.pathname;
    if (p === '/')
      return route.fulfill({
        headers,
        contentType: 'text/html',
        body: '<!doctype html><meta charset="utf-8"><title>edge-compress</title><script type="module" src="/page.js"></script>',
      });
    if (p === '/page.js') return route.fulfill({ headers, contentType: 'text/javascript', body: pageJs });
    const script = opts.scripts?.[p];
    if (script !== undefined) return route.fulfill({ headers, contentType: 'text/javascript', body: script });
    const from = p.startsWith('/wasm/') ? join(WASM_DIR, p.slice(6)) : p.startsWith('/mnist/') ? join(MNIST_DIR, p.slice(7)) : undefined;
    if (!from || !existsSync(from)) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ headers, body: await readFile(from), contentType: from.endsWith('.wasm') ? 'application/wasm' : 'application/json' });
  });
  await page.goto(`http://localhost:8631/${opts.query ?? ''}`);
  return page;
}

/** Waits for the page to set `window.result` (returned) or `window.error` (thrown). */
export async function pageResult<T>(page: Page, timeoutMs: number): Promise<T> {
  await page.waitForFunction(
    () => (window as unknown as { result?: unknown; error?: string }).result !== undefined || (window as unknown as { error?: string }).error !== undefined,
    null,
    {
      timeout: timeoutMs,
      polling: 250,
    },
  );
  const { result, error } = await page.evaluate(() => ({ result: (window as unknown as { result?: unknown }).result, error: (window as unknown as { error?: string }).error }));
  if (error) throw new Error(`in the browser: ${error}`);
  return result as T;
}

export async function launch(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no chromium found: apt-get install -y chromium, or set CHROMIUM_PATH');
  return chromium.launch({ executablePath, args: ['--no-sandbox'] });
}
