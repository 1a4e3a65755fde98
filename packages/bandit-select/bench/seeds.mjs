// The two disjoint seed sets of the regret bench. Every default and hyperparameter (the package defaults in
// src/policies/config.ts and every baseline's grid choice) is chosen on TUNING_SEEDS only; the reported figures are
// medians over REPORTING_SEEDS, which no choice may look at. Importing this module checks that they are disjoint.
export const TUNING_SEEDS = [101, 102, 103, 104, 105, 106, 107, 108];
export const REPORTING_SEEDS = [1, 2, 3, 4, 5];

const overlap = TUNING_SEEDS.filter((s) => REPORTING_SEEDS.includes(s));
if (overlap.length > 0) throw new Error(`tuning and reporting seeds overlap: ${overlap.join(',')}`);

/** Refuse any seed outside the tuning set (tuneDefaults.mjs). */
export function assertTuningSeeds(seeds) {
  const bad = seeds.filter((s) => !TUNING_SEEDS.includes(s));
  if (bad.length > 0) throw new Error(`seed(s) ${bad.join(',')} are not tuning seeds (${TUNING_SEEDS.join(',')}); reporting seeds must not be used to choose defaults`);
}
