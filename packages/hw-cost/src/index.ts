/** @edge-compress/hw-cost: work in progress. */
export const PACKAGE_NAME = '@edge-compress/hw-cost';
