import type { JobInput, JobModuleRef, JobOutput, JobProgress, SerializedError } from './runner.js';

export type ParentMessage = { t: 'init'; module: JobModuleRef } | { t: 'run'; job: JobInput; dir: string } | { t: 'abort' } | { t: 'close' };

export type ChildMessage =
  | { t: 'ready' }
  | { t: 'init-failed'; error: SerializedError }
  | { t: 'progress'; id: string; p: JobProgress }
  | { t: 'done'; id: string; output: JobOutput }
  | { t: 'fail'; id: string; error: SerializedError };
