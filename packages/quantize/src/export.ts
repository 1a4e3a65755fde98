/**
 * Export lives in core (one save path for every encoding). Kept here under its old name for existing users:
 * `exportQuantized` is core's `exportModel`.
 */
export {
  exportModel as exportQuantized,
  hasStockForm,
  widenEncoding,
  IN_MEMORY_NOTE,
  type ExportOptions,
  type ExportReport,
  type ExportLayerRow,
  type Widen,
} from '@edge-compress/core';
