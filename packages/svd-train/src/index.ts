/** @edge-compress/svd-train: work in progress. */
export const PACKAGE_NAME = '@edge-compress/svd-train';
