// Small statistics shared by the bench scripts.

/** Median of a list of numbers (the mean of the two middle values for an even count). */
export const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Arithmetic mean. */
export const mean = (a) => a.reduce((p, q) => p + q, 0) / a.length;
