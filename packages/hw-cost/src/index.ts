/**
 * @edge-compress/hw-cost: latency, energy and storage of (compressed) models on device profiles — MCU, mobile
 * CPU/GPU, edge FPGA, an Eyeriss-class accelerator (analytic, profiles are data) and this machine's tfjs-wasm
 * (calibrated from measurements). Depends on @edge-compress/core only.
 */
export { PATTERNS, OPS, modelFeatures, irFeatures, weightFacts, maskStructure, factsFromSummary, type LayerFeatures, type Pattern, type Op, type WeightFacts } from './features.js';
export {
  profileSchema,
  parseProfile,
  loadProfileFile,
  loadProfileDir,
  mergeProfiles,
  findProfile,
  uncertainValues,
  computePrecision,
  PRECISIONS,
  TAGS,
  KINDS,
  type DeviceProfile,
  type Num,
  type Precision,
  type Tag,
} from './profile.js';
export { builtinProfiles } from './builtin.js';
export { estimateLayer, estimateAnalytic, totalEstimate, type LayerEstimate, type ModelEstimate, type Bottleneck } from './analytic.js';
export { estimateCost, createCostFn, breakEven, withDensity, featuresFromSummary, type CostOptions, type BreakEven } from './cost.js';
export {
  calibrate,
  fitCalibration,
  predictLocal,
  predictLocalIR,
  compileForest,
  analyticLayerMs,
  saveCalibration,
  loadCalibration,
  parseCalibration,
  defaultCalibrationPath,
  CALIBRATION_VERSION,
  MODEL_FOREST_FEATURES,
  type Calibration,
  type CalibrateOptions,
  type FitInput,
  type LocalPrediction,
} from './calibration.js';
export { nnls, fitKernelModel, modelVector, layerVector, layerMs, callVector, KERNEL_FEATURE_NAMES, KERNEL_FORM } from './kernelModel.js';
export { timeItems, buildStockModel, type TimingItem, type TimingOptions, type ItemTiming } from './measure.js';
export { measureInProcesses, deviceState, type ProtocolOptions, type ProtocolResult } from './protocol.js';
export { layerConfigs, identityConfigs, modelSpecs, randomModel, irMacs, FAMILIES, type ModelSpec, type Family } from './generate.js';
export { compareDevices, type Comparison, type ComparisonRow } from './compare.js';
