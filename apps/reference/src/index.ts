export { run, reportError, type Io } from './main.js';
export { runPipeline, loadRecipes, quicken, fullen, FULL_FACTOR, RECIPES_DIR, type PipelineOptions } from './pipeline.js';
export { registry } from './methods.js';
export { summaryTable, modelFigures, type PipelineReport, type VariantRow } from './report.js';
export { analyseVariants, type Analysis } from './analysis.js';
export { runSelection, buildSelectionCatalogue, tInterval, type SelectionReport } from './selection.js';
export { renderHtmlReport, writeHtmlReport, REPORT_CHARTS } from './html.js';
