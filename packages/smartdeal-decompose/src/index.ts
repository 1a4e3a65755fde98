/** @edge-compress/smartdeal-decompose: work in progress. */
export const PACKAGE_NAME = '@edge-compress/smartdeal-decompose';
