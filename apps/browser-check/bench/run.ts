import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, loadMnist } from '@edge-compress/core';
import { bundleForBrowser, REPO_ROOT } from '../src/bundle.js';
import { bundlePage, launch, openPage, pageResult } from '../src/chromium.js';
import { createStepper } from '../src/steps.js';

const BLOCKS = Number(process.env.BLOCKS ?? 12);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const { bytes } = await bundleForBrowser(`export * from '@edge-compress/core'; export * from '@edge-compress/quantize';`, { minify: true });
const browser = await launch();
const page = await openPage(browser, await bundlePage(join(REPO_ROOT, 'apps', 'browser-check', 'src', 'stepPage.ts')));
const info = await pageResult<{ simd: boolean; threads: boolean }>(page, 120_000);
await initBackend('wasm');
const node = createStepper(loadMnist({ shape: [28, 28, 1] }).train);
const browserBlock = (): Promise<number> => page.evaluate(() => (window as unknown as { block: () => Promise<number> }).block());
// A second page, cross-origin isolated, with tfjs-wasm's threaded build on every core (issue 16 asks what it gives).
const threadedPage = await openPage(browser, await bundlePage(join(REPO_ROOT, 'apps', 'browser-check', 'src', 'stepPage.ts')), { isolated: true, query: '?threads=2' });
const threadedInfo = await pageResult<{ simd: boolean; threads: boolean }>(threadedPage, 120_000);
const threadedBlock = (): Promise<number> => threadedPage.evaluate(() => (window as unknown as { block: () => Promise<number> }).block());
// Warm-up, then alternate which side goes first in each pair of blocks.
await node.block();
await browserBlock();
await threadedBlock();
const n: number[] = [],
  b: number[] = [],
  th: number[] = [],
  ratios: number[] = [];
for (let i = 0; i < BLOCKS; i++) {
  let x: number, y: number;
  if (i % 2 === 0) {
    x = await node.block();
    y = await browserBlock();
  } else {
    y = await browserBlock();
    x = await node.block();
  }
  n.push(x);
  b.push(y);
  th.push(await threadedBlock());
  ratios.push(y / x);
}
node.dispose();
await browser.close();
const load = (await import('node:os')).loadavg()[0]!;
const out = {
  browser_step_ms_lenet5: +median(b).toFixed(2),
  node_step_ms_lenet5: +median(n).toFixed(2),
  browser_vs_node_step_ratio: +median(ratios).toFixed(3),
  browser_vs_node_step_ratio_min: +Math.min(...ratios).toFixed(3),
  browser_vs_node_step_ratio_max: +Math.max(...ratios).toFixed(3),
  browser_bundle_kib: +(bytes / 1024).toFixed(1),
  browser_wasm_simd: info.simd ? 1 : 0,
  browser_wasm_threads: info.threads ? 1 : 0,
  browser_threaded_step_ms_lenet5: +median(th).toFixed(2),
  browser_threaded_wasm_threads: threadedInfo.threads ? 1 : 0,
  browser_threaded_vs_node_step_ratio: +(median(th) / median(n)).toFixed(3),
  blocks: BLOCKS,
  load_average_1m: +load.toFixed(2),
};
console.table(out);
mkdirSync(join(REPO_ROOT, 'bench-results'), { recursive: true });
writeFileSync(join(REPO_ROOT, 'bench-results', 'browser.json'), `${JSON.stringify(out, null, 2)}\n`);
