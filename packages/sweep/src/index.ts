/** @edge-compress/sweep: work in progress. */
export const PACKAGE_NAME = '@edge-compress/sweep';
