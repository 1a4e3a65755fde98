/** @edge-compress/bcr-prune: work in progress. */
export const PACKAGE_NAME = '@edge-compress/bcr-prune';
