/**
 * @edge-compress/sweep: sweeps of recipes × grid values × models × seeds as jobs with stable ids, on an
 * embedded queue of job processes (no server) or on BullMQ over Redis across machines. The job itself is
 * injected as a module path (see JobModuleRef), so methods stay registered in the app.
 */
export { canonicalJson, stableId, sha256 } from './hash.js';
export { sweepSpecSchema, parseSweepSpec, readSweepSpec, sweepJsonSchema, NAME_RE, type SweepSpec, type SweepSpecInput } from './spec.js';
export { gridLocations, applyAt, cartesian, parsePathKey, isBareKey } from './grid.js';
export { expandSweep, resolveModels, loadSweepRecipes, defaultLabel, type SweepJob, type SweepModel, type SweepRecipe, type ModelRef, type ExpandOptions } from './expand.js';
export {
  type JobInput,
  type JobIo,
  type JobOutput,
  type JobProgress,
  type JobRunner,
  type JobRunnerFactory,
  type JobModuleRef,
  type SerializedError,
  serializeError,
  loadJobRunner,
} from './runner.js';
export { deserializeError, isPermanent } from './errors.js';
export { ProcessPool, childEntryPath, type PoolOptions } from './pool.js';
export { type Executor, processExecutor, inProcessExecutor, attemptJob, jobInput } from './executor.js';
export { runEmbedded, type JobOutcome, type RetryPolicy } from './embedded.js';
export {
  runOnQueue,
  startQueueWorker,
  connectRedis,
  checkRedis,
  parseRedisUrl,
  DEFAULT_QUEUE_NAME,
  type QueueWorker,
  type QueueWorkerOptions,
  type QueueRunOptions,
  type QueuedJobData,
} from './redis.js';
export { buildCatalogue, paretoFront, dominates, type Arm, type ParetoObjectives } from './catalogue.js';
export { readResult, readCommits, readFailure, commitVariant, makeJobDir, cleanTmp, RESULT_FILE, type VariantResult, type CommitRecord } from './store.js';
export type { SweepEvent, SweepEventHandler } from './events.js';
export { runSweep, planSweep, resetSweepState, type RunSweepOptions, type SweepReport } from './sweep.js';
