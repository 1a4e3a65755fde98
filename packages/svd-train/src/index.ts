/** @edge-compress/svd-train: SVD training (low-rank layers with orthogonality + sparsity regularisers) and its truncated-SVD baseline. */
export {
  svdTrain,
  svdTrainStages,
  stageKey,
  type SvdTrainedStage,
  type SvdStageExtras,
  chooseRanks,
  applyRanks,
  encodeState,
  modelCost,
  coreHasSpatialView,
  type RankChoice,
} from './compress.js';
export { svdConfig, svdOptions, DEFAULTS, type SvdConfig, type SvdOptions } from './config.js';
export { decompose, reconstruct, selectColumns, descendingOrder, orthogonalityError, gramError, toView, fromView, viewDims, type Factors, type FactorView } from './factors.js';
export { layerGeometry, denseCost, lowRankCost, breakEvenRank, type LayerGeometry } from './cost.js';
export { energyRank, energyKept, thresholdForBudget, greedyRanks } from './rank.js';
export { orthogonalityLoss, sparsityLoss, sparsityValue, SPARSITY_KINDS, type SparsityKind } from './regularizers.js';
export { lowRankKernel, lowRankOperators, runLowRank, type LowRankWithView } from './kernel.js';
export { trainPhase, factoredForward, type LayerState, type PhaseOptions } from './train.js';
