export { run, reportError, type Io } from './main.js';
export { runPipeline, loadRecipes, RECIPES_DIR } from './pipeline.js';
export { registry } from './methods.js';
export { summaryTable, modelFigures, type PipelineReport, type VariantRow } from './report.js';
