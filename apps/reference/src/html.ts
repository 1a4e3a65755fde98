/**
 * report.html: one self-contained file (echarts inlined from node_modules, the report's data inlined as JSON; no
 * network at view time) with the variants table, the Pareto fronts, per-layer compression, the device
 * comparison (mobile vs FPGA energy) and the selection's regret curves.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { writeFileAtomic } from '@edge-compress/core';
import type { PipelineReport } from './report.js';

/** The ids of the charts report.html draws (the browser test checks each one). */
export const REPORT_CHARTS = ['chart-pareto', 'chart-pareto-latency', 'chart-layers', 'chart-devices', 'chart-regret'] as const;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

async function echartsSource(): Promise<string> {
  const req = createRequire(import.meta.url);
  return readFile(req.resolve('echarts/dist/echarts.min.js'), 'utf8');
}

/** The page's script: builds every chart from the inlined report (runs in the browser). */
const PAGE_SCRIPT = String.raw`
const R = JSON.parse(document.getElementById('report-data').textContent);
const charts = {};
const mk = (id, option) => { const c = echarts.init(document.getElementById(id), null, { renderer: 'canvas' }); c.setOption(Object.assign({ animation: false }, option)); charts[id] = c; };
const kb = (b) => b / 1024;
const onAnyFront = new Set((R.pareto || []).flatMap((p) => p.front));
// Pareto: accuracy vs weight storage (all variants; the accuracy-vs-size front as a line).
const pts = R.variants.map((v) => ({ name: v.id, value: [kb(v.storageBytes), 100 * v.accuracy] }));
const sorted = [...pts].sort((a, b) => a.value[0] - b.value[0]);
const front2 = []; let bestAcc = -1;
for (const p of sorted) if (p.value[1] > bestAcc) { front2.push(p); bestAcc = p.value[1]; }
mk('chart-pareto', {
  title: { text: 'Accuracy vs weight storage (Pareto front)' },
  tooltip: { formatter: (p) => p.name + ': ' + p.value[0].toFixed(1) + ' KB, ' + p.value[1].toFixed(2) + '%' },
  legend: { top: 24 },
  xAxis: { type: 'log', name: 'weight storage (KB)' }, yAxis: { type: 'value', name: 'test accuracy (%)', scale: true },
  series: [
    { name: 'variants', type: 'scatter', symbolSize: 9, data: pts.map((p) => Object.assign({}, p, { itemStyle: { color: onAnyFront.has(p.name) ? '#c23531' : '#7f8c8d' } })), label: { show: true, position: 'right', formatter: (p) => p.name, fontSize: 9 } },
    { name: 'front (accuracy ↑, storage ↓)', type: 'line', step: 'end', data: front2.map((p) => p.value) },
  ],
});
// Pareto per device class: accuracy vs hw-cost latency, one series per class, front members larger.
mk('chart-pareto-latency', {
  title: { text: 'Accuracy vs latency per device class (front members large)' },
  tooltip: { formatter: (p) => p.seriesName + ' ' + p.data.name + ': ' + p.value[0].toPrecision(3) + ' ms, ' + p.value[1].toFixed(2) + '%' },
  legend: { top: 24 },
  xAxis: { type: 'log', name: 'latency, batch 1 (ms)' }, yAxis: { type: 'value', name: 'test accuracy (%)', scale: true },
  series: (R.pareto || []).map((p) => ({
    name: p.cls, type: 'scatter',
    data: R.variants.map((v) => { const c = R.costs.find((x) => x.variant === v.id && x.device === p.device); return { name: v.id, value: [c.latencyMs, 100 * v.accuracy], symbolSize: p.front.includes(v.id) ? 12 : 5 }; }),
  })),
});
// Per-layer compression ratio (fp32 bytes / stored bytes).
const layerNames = [...new Set(R.layers.map((l) => l.layer))];
mk('chart-layers', {
  title: { text: 'Per-layer compression (fp32 / stored weight bytes)' },
  tooltip: { trigger: 'axis' }, legend: { top: 24, type: 'scroll' }, grid: { top: 70 },
  xAxis: { type: 'category', data: layerNames }, yAxis: { type: 'log', name: '× (log)', min: 1 },
  series: R.variants.slice(1).map((v) => ({ name: v.id, type: 'bar', data: layerNames.map((n) => { const l = R.layers.find((x) => x.variant === v.id && x.layer === n); return l ? Number(l.ratio.toFixed(2)) : null; }) })),
});
// Device comparison: energy per inference on mobile CPU / GPU vs the edge FPGA (the seed paper's question).
const devs = (R.devices || []).filter((d) => ['mobile-cpu', 'mobile-gpu', 'fpga'].includes(d.kind));
mk('chart-devices', {
  title: { text: 'Energy per inference: mobile vs FPGA (hw-cost, batch 1)' },
  tooltip: { trigger: 'axis' }, legend: { top: 24 }, grid: { bottom: 120 },
  xAxis: { type: 'category', data: R.variants.map((v) => v.id), axisLabel: { rotate: 40, fontSize: 9 } }, yAxis: { type: 'log', name: 'mJ', min: (v) => Math.pow(10, Math.floor(Math.log10(v.min))) },
  series: devs.map((d) => ({ name: d.id, type: 'line', symbolSize: 9, lineStyle: { width: 1, type: 'dotted' }, data: R.variants.map((v) => { const c = R.costs.find((x) => x.variant === v.id && x.device === d.id); return Number(c.energyMj.toPrecision(4)); }) })),
});
// Regret curves of every policy (mean over the simulated populations) and of the best single variant.
const S = R.selection;
mk('chart-regret', {
  title: { text: 'Cumulative regret vs the per-device oracle', subtext: 'mean over the simulated populations; uniform hidden (click its legend entry)' },
  tooltip: { trigger: 'axis' }, legend: { top: 40, selected: { uniform: false } }, grid: { top: 80 },
  xAxis: { type: 'value', name: 'round' }, yAxis: { type: 'value', name: 'cumulative regret (QoE)' },
  series: S.policies.map((p) => ({ name: p.name, type: 'line', showSymbol: false, data: p.cumRegret.map((y, i) => [S.checkpoints[i], y]) })),
});
window.__charts = charts;
window.__chartsReady = true;
`;

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The HTML of the report. */
export async function renderHtmlReport(r: PipelineReport): Promise<string> {
  const js = await echartsSource();
  const data = JSON.stringify({
    variants: r.variants,
    costs: r.costs ?? [],
    layers: r.layers ?? [],
    pareto: r.pareto ?? [],
    devices: r.devices ?? [],
    selection: r.selection,
  }).replace(/</g, '\\u003c');
  const front = new Set((r.pareto ?? []).flatMap((p) => p.front));
  const rows = r.variants
    .map(
      (v) =>
        `<tr><td>${esc(v.id)}${front.has(v.id) ? ' ★' : ''}</td><td>${esc(v.method)}</td><td>${pct(v.accuracy)}</td><td>${(100 * v.accuracyDrop).toFixed(2)}</td><td>${v.storageRatio.toFixed(1)}×</td><td>${(v.storageBytes / 1024).toFixed(1)}</td><td>${(v.gzipBytes / 1024).toFixed(1)}</td><td>${(v.stockFileBytes / 1024).toFixed(1)}</td><td>${v.localLatencyMs ? v.localLatencyMs.batch1.toFixed(2) : '–'}</td><td>${(
          r.costs ?? []
        )
          .filter((c) => c.variant === v.id)
          .map((c) => `${c.latencyMs.toPrecision(3)}`)
          .join(' / ')}</td></tr>`,
    )
    .join('\n');
  const s = r.selection;
  const iv = (i: { mean: number; ci95: [number, number] }) => `${i.mean >= 0 ? '+' : ''}${i.mean.toFixed(3)} [${i.ci95[0].toFixed(3)}, ${i.ci95[1].toFixed(3)}]`;
  const selRows = s
    ? s.policies
        .map((p) => `<tr><td>${p.name}</td><td>${p.meanQoe.toFixed(3)}</td><td>${iv(p.gainVsBestFixed)}</td><td>${pct(p.regretShare)}</td><td>${pct(p.optimalArmShare)}</td></tr>`)
        .join('\n')
    : '';
  const devHead = (r.devices ?? []).map((d) => esc(d.id)).join(' / ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge-compress reference pipeline</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,td:nth-child(2){text-align:left}.chart{width:1150px;height:460px;margin:16px 0}.verdict{background:#f6f6f6;padding:8px 12px;border-left:4px solid #c23531}</style>
</head><body>
<h1>edge-compress reference pipeline</h1>
<p>${esc(r.baseline.arch)} on MNIST, ${r.quick ? 'quick' : r.full ? 'full' : 'default'} run, seed ${r.seed}; baseline test accuracy ${pct(r.baseline.testAccuracy)} after ${r.baseline.epochs} epochs. ${r.variants.length} variants; ★ = on the Pareto front of at least one device class.</p>
<h2>Variants</h2>
<table id="variants"><thead><tr><th>variant</th><th>method</th><th>test acc</th><th>Δacc (pp)</th><th>vs fp32</th><th>weights (KB)</th><th>gzip (KB)</th><th>stock files (KB)</th><th>local ms (b1)</th><th>hw-cost ms: ${devHead}</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Pareto front</h2>
<div id="chart-pareto" class="chart"></div>
<div id="chart-pareto-latency" class="chart"></div>
<h2>Per-layer compression</h2>
<div id="chart-layers" class="chart"></div>
<h2>Device comparison</h2>
<div id="chart-devices" class="chart"></div>
<h2>Per-device selection</h2>
${
  s
    ? `<p class="verdict">${esc(s.verdict)}</p><p>${s.replications} simulated populations × ${s.rounds} rounds; ${s.population.deviceTypes} devices spanning ${s.population.classes.map((c) => esc(c.device)).join(', ')}; QoE accuracy range ${pct(s.qoe.accLo)}–${pct(s.qoe.accHi)} (the catalogue's own). Oracle ${s.oracleMeanQoe.toFixed(3)}, best single variant ${esc(s.bestFixedArm)} ${s.bestFixedMeanQoe.toFixed(3)}, oracle gain ${iv(s.oracleGainVsBestFixed)}.</p>
<table id="policies"><thead><tr><th>policy</th><th>mean QoE</th><th>gain vs best single variant [95%]</th><th>regret share</th><th>optimal chosen</th></tr></thead><tbody>
${selRows}
</tbody></table>`
    : ''
}
<div id="chart-regret" class="chart"></div>
<script type="application/json" id="report-data">${data}</script>
<script>${js}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

export async function writeHtmlReport(file: string, r: PipelineReport): Promise<void> {
  await writeFileAtomic(file, await renderHtmlReport(r));
}
