import { initBackend, loadMnist, subset } from '@edge-compress/core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_PACKAGES, bundleForBrowser } from '../src/bundle.js';
import { bundlePage, findChromium, launch, openPage, pageResult } from '../src/chromium.js';
import { memoryStore, METHODS, runScenario, SIZES, type ScenarioResult } from '../src/scenario.js';

describe('browser bundles', () => {
  it.each(BROWSER_PACKAGES)('%s: the main entry bundles for the browser with no Node built-in', async (pkg) => {
    const { code } = await bundleForBrowser(`export * from '${pkg}';`);
    expect(code.length).toBeGreaterThan(1000);
  });

  it('the check itself fails on a Node built-in reached from our code, naming the importer', async () => {
    const err = await bundleForBrowser(`export * from '@edge-compress/core/node';`).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/Node built-in\) is imported by packages\/core\/dist/);
  });
});

const chromiumPath = findChromium();

describe.skipIf(!chromiumPath)('in headless Chromium (Debian chromium via playwright-core)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('trains, compresses with every method, stores in IndexedDB, stock-loads — the same numbers as Node', async () => {
    const page = await openPage(browser, await bundlePage(new URL('../src/page.ts', import.meta.url).pathname));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The same steps in Node while the browser runs them (two processes, two cores).
    await initBackend('wasm');
    const d = loadMnist({ shape: [784] });
    const data = { train: subset(d.train, SIZES.train), val: subset(d.val, SIZES.val), test: subset(d.test, SIZES.test) };
    const inNode = await runScenario(data, memoryStore());
    const inBrowser = (await pageResult<{ info: { backend: string; simd: boolean }; scenario: ScenarioResult }>(page, 240_000)).scenario;
    expect(errors).toEqual([]);

    // Same training, bit for bit (same wasm SIMD binary, same seeds): identical losses and accuracies.
    expect(inBrowser.baseline.trainLoss).toEqual(inNode.baseline.trainLoss);
    expect(inBrowser.baseline.accuracy).toBe(inNode.baseline.accuracy);
    expect(inNode.baseline.accuracy).toBeGreaterThan(0.5);
    expect(Object.keys(inBrowser.methods)).toEqual([...METHODS]);
    for (const m of METHODS) {
      const b = inBrowser.methods[m]!,
        n = inNode.methods[m]!;
      expect(b.accuracy, m).toBe(n.accuracy);
      expect(b.bytes, m).toBe(n.bytes);
      // Stored in IndexedDB and read back: our loader restores every encoding exactly; stock tfjs predicts the same.
      expect(b.exactRoundTrip, m).toBe(true);
      expect(b.stockAccuracy, m).toBe(b.accuracy);
    }
    await page.close();
  });

  it('data-parallel training with Web Workers in an isolated page: the same step as in-process; not isolated → in-process', async () => {
    type Run = { workers: number; moved: number; fc2: number[]; conv1: number[] };
    type R = { isolated: boolean; one: Run; two: Run };
    const pageJs = await bundlePage(new URL('../src/workersPage.ts', import.meta.url).pathname);
    const scripts = { '/worker.js': await bundlePage(new URL('../src/trainWorker.ts', import.meta.url).pathname) };
    const isolated = await openPage(browser, pageJs, { isolated: true, scripts });
    const r = await pageResult<R>(isolated, 180_000);
    expect(r.isolated).toBe(true);
    expect(r.one.workers).toBe(1);
    expect(r.two.workers).toBe(2);
    for (const k of ['fc2', 'conv1'] as const) {
      const worst = Math.max(...r.two[k].map((v, i) => Math.abs(v - r.one[k][i]!)));
      expect(worst, k).toBeLessThan(5e-5);
    }
    // trained (not two copies of the initial weights)
    expect(r.two.moved).toBeGreaterThan(1e-3);
    await isolated.close();
    // Without COOP/COEP there is no SharedArrayBuffer: the fit runs in-process and says so.
    const plain = await openPage(browser, pageJs, { scripts });
    const p = await pageResult<R>(plain, 180_000);
    expect(p.isolated).toBe(false);
    expect(p.two.workers).toBe(1);
    await plain.close();
  });

  it('bad input in the browser is the same typed error as in Node', async () => {
    const page = await openPage(browser, await bundlePage(new URL('../src/errorsPage.ts', import.meta.url).pathname));
    const r = await pageResult<Array<{ name: string; code: string; message: string }>>(page, 60_000);
    expect(r.map((e) => [e.name, e.code])).toEqual([
      ['CompressionError', 'RECIPE_INVALID'],
      ['CompressionError', 'BAD_CONFIG'],
      ['CompressionError', 'BAD_MODEL_FILE'],
    ]);
    expect(r[0]!.message).toContain('config_list[0].sparse_ratio');
    await page.close();
  });
});
