/**
 * Export lives in core (one save path for every encoding). Kept here under its old names for existing users:
 * `serializeQuantized` is core's `serializeExport` (in memory, any platform); `exportQuantized` (files, Node only)
 * is core's `exportModel`, exported from this package's Node entry.
 */
export {
  serializeExport as serializeQuantized,
  hasStockForm,
  widenEncoding,
  IN_MEMORY_NOTE,
  type ExportOptions,
  type ExportReport,
  type ExportLayerRow,
  type Widen,
} from '@edge-compress/core';
