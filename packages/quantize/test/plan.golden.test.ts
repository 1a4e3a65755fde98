import { lenet5 } from '@edge-compress/core';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { quantize } from '../src/index.js';

const GOLDEN = new URL('./golden/plan.lenet5.json', import.meta.url);

// The README's recipe stage; regenerate with UPDATE_GOLDEN=1 and review the diff.
it('golden plan: LeNet-5, int8 per-channel weights, 4-bit fc1 override, mixed precision', async () => {
  const plan = quantize.plan(
    lenet5(),
    [
      { op_types: ['conv2d', 'dense'], quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' },
      { op_names: ['fc1'], quant_dtype: 'int4', range_method: 'mse' },
    ],
    {
      mode: 'qat',
      activations: { bits: 8 },
      calibration_batches: 4,
      qat_epochs: 3,
      lr: 1e-4,
      mixed_precision: { size_budget_ratio: 8, candidate_bits: [8, 6, 4, 3, 2], max_acc_drop: 0.005 },
    },
  );
  const text = `${JSON.stringify(plan, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN) await writeFile(GOLDEN, text);
  expect(existsSync(GOLDEN), 'golden missing: run with UPDATE_GOLDEN=1').toBe(true);
  expect(text).toBe(await readFile(GOLDEN, 'utf8'));
});
