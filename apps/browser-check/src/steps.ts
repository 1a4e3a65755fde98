import { initModel, lenet5, subset, Trainer, type Dataset } from '@edge-compress/core';

export const STEPS_PER_BLOCK = 10;
export const BATCH = 64;

/** LeNet-5 training steps (batch 64, Adam) in blocks of ten: the unit both platforms are timed on. */
export function createStepper(train: Dataset): { block(): Promise<number>; dispose(): void } {
  const data = subset(train, STEPS_PER_BLOCK * BATCH);
  const trainer = new Trainer(initModel(lenet5(), 0));
  return {
    /** Runs one block; returns milliseconds per step. */
    async block() {
      const t0 = performance.now();
      await trainer.fit(data, { epochs: 1, batchSize: BATCH, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0 });
      return (performance.now() - t0) / STEPS_PER_BLOCK;
    },
    dispose: () => trainer.dispose(),
  };
}
