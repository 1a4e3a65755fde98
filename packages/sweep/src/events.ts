import type { TrainProgress } from '@edge-compress/core';
import type { JobProgress, SerializedError } from './runner.js';

interface JobRef {
  id: string;
  label: string;
}

/** What a sweep reports while it runs (the app draws its progress bars from these). */
export type SweepEvent =
  | { type: 'planned'; total: number; existing: number; pending: number; mode: 'embedded' | 'queue' }
  | { type: 'baseline'; model: string; progress: TrainProgress }
  | ({ type: 'start'; attempt: number; pid?: number } & JobRef)
  | ({ type: 'progress'; progress: JobProgress } & JobRef)
  | ({ type: 'retry'; attempt: number; error: SerializedError; delayMs: number } & JobRef)
  | ({ type: 'done'; outcome: 'committed' | 'duplicate' | 'existing'; seconds?: number } & JobRef)
  | ({ type: 'failed'; attempts: number; error: SerializedError } & JobRef);

export type SweepEventHandler = (e: SweepEvent) => void;
