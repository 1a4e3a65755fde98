// The seed paper's question (Mobile or FPGA?): LeNet-5 and compressed variants on every device profile,
// batch 1 and 32. Used by bench.mjs; run alone (`node bench/compare.mjs`) it recomputes the table from the
// saved calibration (bench-results/.hw-cost-calibration.json) without re-measuring and updates the
// fpga_vs_mobile_gpu_* figures in bench-results/hw-cost.json and bench-results/hw-cost-comparison.json.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseQuantParams, initModel, lenet5, maskedEncoding, quantizeWith, sizeOf, toDense, topkMask } from '@edge-compress/core';
import { builtinProfiles, compareDevices, parseCalibration, uncertainValues } from '@edge-compress/hw-cost';

function mapKernels(m, fn) {
  const weights = {};
  for (const [k, v] of Object.entries(m.weights)) weights[k] = k.endsWith('/kernel') ? fn(v, k) : v;
  return { ir: m.ir, weights };
}
/** 4x4 blocks of the GEMM view (rows = out channels) ranked by L2 norm; the top fraction kept. */
function blockMask(e, keepFrac, b = 4) {
  const rows = e.shape[e.shape.length - 1],
    cols = sizeOf(e.shape) / rows,
    v = toDense(e);
  const br = rows % b === 0 ? b : 1,
    bc = cols % b === 0 ? b : 1;
  const scores = [];
  for (let r0 = 0; r0 < rows; r0 += br)
    for (let c0 = 0; c0 < cols; c0 += bc) {
      let s = 0;
      for (let r = r0; r < r0 + br; r++) for (let c = c0; c < c0 + bc; c++) s += v[c * rows + r] ** 2;
      scores.push(s);
    }
  const keep = topkMask(scores, Math.max(1, Math.round(keepFrac * scores.length)));
  const mask = new Uint8Array(v.length);
  let i = 0;
  for (let r0 = 0; r0 < rows; r0 += br)
    for (let c0 = 0; c0 < cols; c0 += bc, i++) if (keep[i]) for (let r = r0; r < r0 + br; r++) for (let c = c0; c < c0 + bc; c++) mask[c * rows + r] = 1;
  return mask;
}
const quantizeEnc = (e, bits) => {
  const p = chooseQuantParams(toDense(e), e.shape, { scheme: 'symmetric', bits, axis: null, range: 'minmax' });
  return { kind: 'quantized', shape: [...e.shape], scheme: 'symmetric', bits, axis: null, scales: p.scales, zeroPoints: p.zeroPoints, codes: quantizeWith(toDense(e), e.shape, p) };
};
const magnitude = (e, keep) => maskedEncoding(e, topkMask(Float32Array.from(toDense(e), Math.abs), Math.round(keep * sizeOf(e.shape))));
const slug = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');

export function lenetVariants() {
  const base = initModel(lenet5(), 0);
  return [
    { name: 'fp32 baseline', model: base },
    { name: 'unstructured 90%', model: mapKernels(base, (e) => magnitude(e, 0.1)) },
    { name: 'block 4x4 75%', model: mapKernels(base, (e) => maskedEncoding(e, blockMask(e, 0.25))) },
    { name: 'int8', model: mapKernels(base, (e) => quantizeEnc(e, 8)) },
    { name: 'block 75% + int8', model: mapKernels(base, (e) => maskedEncoding(quantizeEnc(e, 8), blockMask(e, 0.25))) },
    { name: 'int4', model: mapKernels(base, (e) => quantizeEnc(e, 4)) },
    { name: 'int2', model: mapKernels(base, (e) => quantizeEnc(e, 2)) },
  ];
}

export function compareLenet(calibration) {
  const variants = lenetVariants();
  const cmp = compareDevices(variants, { calibration, batch: 1 });
  const cmp32 = compareDevices(variants, { calibration, batch: 32 });
  const figures = {};
  for (const [v, x] of Object.entries(cmp.fpgaVsMobileGpuEnergy)) figures[`fpga_vs_mobile_gpu_energy_ratio_lenet5${v === 'fp32 baseline' ? '' : `_${slug(v)}`}`] = +x.toFixed(3);
  for (const [v, x] of Object.entries(cmp32.fpgaVsMobileGpuEnergy))
    figures[`fpga_vs_mobile_gpu_energy_ratio_lenet5_b32${v === 'fp32 baseline' ? '' : `_${slug(v)}`}`] = +x.toFixed(3);
  return { cmp, cmp32, variants, figures };
}

export function profileNotes() {
  return Object.fromEntries(builtinProfiles().map((p) => [p.id, { name: p.name, unverified: uncertainValues(p) }]));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench-results');
  const cal = parseCalibration(JSON.parse(await readFile(join(out, '.hw-cost-calibration.json'), 'utf8')), '.hw-cost-calibration.json');
  const { cmp, cmp32, figures } = compareLenet(cal);
  const r = JSON.parse(await readFile(join(out, 'hw-cost.json'), 'utf8'));
  await writeFile(join(out, 'hw-cost.json'), `${JSON.stringify({ ...r, ...figures }, null, 2)}\n`);
  const c = JSON.parse(await readFile(join(out, 'hw-cost-comparison.json'), 'utf8'));
  await writeFile(join(out, 'hw-cost-comparison.json'), `${JSON.stringify({ ...c, batch1: cmp, batch32: cmp32, profiles: profileNotes() }, null, 2)}\n`);
  console.log(figures);
}
