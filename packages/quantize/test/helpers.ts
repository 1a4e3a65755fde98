import { createRng, initModel, type CompressContext, type Model, Trainer } from '@edge-compress/core';
import { isCompressionError, toyConvIR, toyData } from '@edge-compress/core/testing';
import { expect } from 'vitest';

let cached: { model: Model; ctx: CompressContext } | undefined;

/** A toy conv net trained for 50 seeded steps (5 epochs × 10 batches), with its data. */
export async function trainedToy(): Promise<{ model: Model; ctx: CompressContext }> {
  if (cached) return cached;
  const ir = toyConvIR();
  const train = toyData(320, ir.inputShape, 1);
  const test = toyData(200, ir.inputShape, 2);
  const t = new Trainer(initModel(ir, 3));
  try {
    await t.fit(train, { epochs: 5, batchSize: 32, seed: 1, optimizer: { kind: 'adam', lr: 1e-2 } });
    cached = { model: t.toModel(), ctx: { train, val: test, seed: 7, rng: createRng(7) } };
    return cached;
  } finally {
    t.dispose();
  }
}

export async function expectCode(f: () => unknown, code: string, re: RegExp): Promise<Error> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err), String(err)).toBe(true);
  expect((err as { code: string }).code, String(err)).toBe(code);
  expect((err as Error).message).toMatch(re);
  return err as Error;
}
