/** @edge-compress/admm-prune: work in progress. */
export const PACKAGE_NAME = '@edge-compress/admm-prune';
