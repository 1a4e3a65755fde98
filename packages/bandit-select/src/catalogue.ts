/**
 * Catalogue of arms (model variants) and the action-dependent feature map φ(context, arm).
 *
 * φ = [1, x̃, z̃, (x̃ ⊗ z̃), (q)], where x̃ is the context scaled by the catalogue's per-feature center/scale, z̃ is
 * the arm's features standardised over the catalogue (mean 0, sd 1), x̃ ⊗ z̃ are the pairwise interactions (VW `-q`)
 * and q is the QoE feature block (see `QoeBlock`): the terms of the package's QoE model evaluated at the predicted
 * latency and energy of the arm on the requesting device, weighted by the user's weights.
 */
import { z } from 'zod';
import { BanditError, formatIssues } from './errors.js';

/** Feature and arm names become VW feature tokens, so they may not contain spaces, `|` or `:`. */
export const FEATURE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.\-]*$/;
export const ARM_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-]*$/;

const featureName = z.string().regex(FEATURE_NAME_RE, {
  message: 'feature names must match [A-Za-z_][A-Za-z0-9_.-]* (no spaces, "|" or ":")',
});
const finite = z.number().refine((v) => Number.isFinite(v), { message: 'must be a finite number' });

const contextSpecSchema = z.union([
  featureName,
  z.object({ name: featureName, center: finite.optional(), scale: finite.refine((v) => v > 0, { message: 'must be > 0' }).optional() }),
]);

const qoeBlockSchema = z
  .object({
    /** Accuracy normalisation of the QoE accuracy term (defaults 0.5 / 0.8, as QOE_DEFAULTS). */
    accLo: finite.optional(),
    accHi: finite.optional(),
    /** Deadline softness τ_L as a fraction of the deadline (default 0.2, i.e. τ_L = L/5). */
    tauFraction: finite.refine((v) => v > 0, { message: 'must be > 0' }).optional(),
    /** Energy scales E (mJ) of the energy basis exp(−ê/E); the user's own E is not observed (default [30, 130, 600]). */
    energyScalesMj: z
      .array(finite.refine((v) => v > 0, { message: 'must be > 0' }))
      .min(1)
      .max(8)
      .optional(),
    /** Nominal power (W) per device class, ê = power × ℓ̂ (default 1 W for classes not listed). */
    powerW: z
      .record(
        featureName,
        finite.refine((v) => v > 0, { message: 'must be > 0' }),
      )
      .optional(),
    /**
     * Device classes (context one-hots) the catalogue has no `lat_<class>` for. Their predicted latency is the
     * geometric mean of the arm's catalogued class latencies (a prior only); `classResiduals` lets the policy learn the
     * rest from feedback.
     */
    coldClasses: z.array(featureName).max(16).optional(),
    /**
     * One learnable correction per (device class, arm): (1 − w_a)·1[class = c, arm = a], the latency- and
     * energy-weighted share of the reward that the predicted latency of that pair drives. true = for every class;
     * default = for the cold classes only (they have no catalogue latency to start from).
     */
    classResiduals: z.boolean().optional(),
  })
  .strict();

export type QoeBlockOptions = z.input<typeof qoeBlockSchema>;

export const QOE_BLOCK_DEFAULTS = { accLo: 0.5, accHi: 0.8, tauFraction: 0.2, energyScalesMj: [30, 130, 600] } as const;

export const catalogueSchema = z.object({
  arms: z
    .array(
      z.object({
        id: z.string().regex(ARM_ID_RE, { message: 'arm ids must match [A-Za-z0-9_][A-Za-z0-9_.-]* (no spaces, "|" or ":")' }),
        features: z.record(featureName, finite),
      }),
    )
    .min(2, { message: 'a catalogue needs at least 2 arms' }),
  /** Context feature names (with optional scaling). If absent, the first context seen fixes the names. */
  context: z.array(contextSpecSchema).optional(),
  /**
   * Add x̃ ⊗ z̃ interaction features (like VW `-q`). Default: true without the QoE block, false with it (the block
   * carries the device × model interaction explicitly; see README "Features").
   */
  interactions: z.boolean().optional(),
  /**
   * QoE feature block: true / an options object = required (MISSING_FEATURE if the needed features are absent),
   * false = off, absent = on when the needed features are present.
   */
  qoe: z.union([z.boolean(), qoeBlockSchema]).optional(),
});

export type CatalogueInput = z.input<typeof catalogueSchema>;

export interface ArmSpec {
  readonly id: string;
  readonly features: Readonly<Record<string, number>>;
}
export interface ContextFeatureSpec {
  readonly name: string;
  readonly center: number;
  readonly scale: number;
}
/** A validated catalogue. */
export interface Catalogue {
  readonly arms: readonly ArmSpec[];
  readonly armFeatureNames: readonly string[];
  readonly context?: readonly ContextFeatureSpec[];
  /** Explicit interaction setting; undefined = default (on unless the QoE block is active). */
  readonly interactions?: boolean;
  /** QoE block setting: undefined = auto, false = off, true / options = required. */
  readonly qoe?: boolean | QoeBlockOptions;
}

/** Validate a catalogue object (e.g. parsed JSON). Throws BAD_CATALOGUE with the JSON path of the first problems. */
export function parseCatalogue(input: unknown, source = 'catalogue'): Catalogue {
  const r = catalogueSchema.safeParse(input);
  if (!r.success) {
    throw new BanditError({
      code: 'BAD_CATALOGUE',
      message: `${source}: ${formatIssues(
        r.error.issues.map((i) => (i.code === 'invalid_key' ? { ...i, message: 'feature names must match [A-Za-z_][A-Za-z0-9_.-]* (no spaces, "|" or ":")' } : i)),
      )}`,
      path: source,
      hint: 'expected {"arms":[{"id":"m1","features":{"acc":0.9,...}},...], "context"?: ["name",...]}',
    });
  }
  const arms = r.data.arms;
  const names = Object.keys(arms[0]!.features).sort();
  if (names.length === 0) {
    throw new BanditError({
      code: 'BAD_CATALOGUE',
      message: `${source}: $.arms[0].features is empty`,
      path: `${source}:$.arms[0].features`,
      hint: 'give every arm at least one numeric feature (e.g. accuracy, log size, predicted latency)',
    });
  }
  const seen = new Set<string>();
  arms.forEach((a, i) => {
    if (seen.has(a.id)) {
      throw new BanditError({
        code: 'BAD_CATALOGUE',
        message: `${source}: $.arms[${i}].id "${a.id}" is a duplicate`,
        path: `${source}:$.arms[${i}].id`,
        hint: 'arm ids must be unique',
      });
    }
    seen.add(a.id);
    const own = Object.keys(a.features).sort();
    const missing = names.filter((n) => !(n in a.features));
    const extra = own.filter((n) => !names.includes(n));
    if (missing.length || extra.length) {
      throw new BanditError({
        code: 'BAD_CATALOGUE',
        message:
          `${source}: $.arms[${i}].features (arm "${a.id}") has features [${own.join(', ')}] but $.arms[0] has ` +
          `[${names.join(', ')}]${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; extra ${extra.join(', ')}` : ''}`,
        path: `${source}:$.arms[${i}].features`,
        hint: 'every arm must have the same feature names',
      });
    }
  });
  let context: ContextFeatureSpec[] | undefined;
  if (r.data.context) {
    context = r.data.context.map((c) => (typeof c === 'string' ? { name: c, center: 0, scale: 1 } : { name: c.name, center: c.center ?? 0, scale: c.scale ?? 1 }));
    const cs = new Set<string>();
    context.forEach((c, i) => {
      if (cs.has(c.name)) {
        throw new BanditError({
          code: 'BAD_CATALOGUE',
          message: `${source}: $.context[${i}] "${c.name}" is a duplicate`,
          path: `${source}:$.context[${i}]`,
          hint: 'context feature names must be unique',
        });
      }
      cs.add(c.name);
    });
  }
  return {
    arms: arms.map((a) => ({ id: a.id, features: { ...a.features } })),
    armFeatureNames: names,
    ...(context ? { context } : {}),
    ...(r.data.interactions !== undefined ? { interactions: r.data.interactions } : {}),
    ...(r.data.qoe !== undefined ? { qoe: r.data.qoe } : {}),
  };
}

/** JSON form of a catalogue (what `parseCatalogue` accepts). */
export function catalogueToJSON(c: Catalogue): CatalogueInput {
  return {
    arms: c.arms.map((a) => ({ id: a.id, features: { ...a.features } })),
    ...(c.context ? { context: c.context.map((s) => ({ name: s.name, center: s.center, scale: s.scale })) } : {}),
    ...(c.interactions !== undefined ? { interactions: c.interactions } : {}),
    ...(c.qoe !== undefined ? { qoe: typeof c.qoe === 'boolean' ? c.qoe : JSON.parse(JSON.stringify(c.qoe)) } : {}),
  };
}

/**
 * The features of one decision: the offered arms (catalogue indices), their ADF rows φ (k × dim, row-major) and the
 * encoded context [1, x̃] (ctxDim). Preallocated once per FeatureSpace and refilled, so deciding allocates nothing.
 */
export interface FeatureBatch {
  k: number;
  readonly arms: Int32Array;
  readonly phi: Float64Array;
  readonly ctx: Float64Array;
  /**
   * Set by FeatureSpace.fill when φ has the full interaction layout [1, x̃, z̃, x̃⊗z̃, q], i.e. φ = [vec([1, x̃] ⊗
   * [1, z̃]), q]. Policies then score all arms with one pass over A⁻¹ instead of one per arm. `zbar` holds [1, z̃, q]
   * per position.
   */
  kron: KronLayout | null;
  readonly zbar: Float64Array;
}

/**
 * φ = [1, x̃ (c), z̃ (m), x̃⊗z̃ (c·m), q (p)]: the Kronecker product of [1, x̃] and [1, z̃] in this index order, followed
 * by p arm-specific features q (the QoE block; p = 0 without it). `zbar` then holds [1, z̃, q] per position.
 */
export interface KronLayout {
  readonly c: number;
  readonly m: number;
  readonly p: number;
}

export function createBatch(numArms: number, dim: number, ctxDim: number, zbarDim = 0): FeatureBatch {
  return {
    k: 0,
    arms: new Int32Array(numArms),
    phi: new Float64Array(numArms * dim),
    ctx: new Float64Array(ctxDim),
    kron: null,
    zbar: new Float64Array(numArms * zbarDim),
  };
}

/** Maps raw context records and catalogue arms to standardised feature vectors. */
export class FeatureSpace {
  readonly catalogue: Catalogue;
  readonly contextNames: readonly string[];
  readonly armIds: readonly string[];
  readonly numArms: number;
  /** Number of context features c (ctxDim = c + 1). */
  readonly c: number;
  /** Number of arm features m. */
  readonly m: number;
  readonly ctxDim: number;
  /** ADF dimension. */
  readonly dim: number;
  readonly interactions: boolean;
  /** The QoE block (null when off): its feature names and resolved options. */
  readonly qoe: QoeBlockInfo | null;
  /** Number of QoE block features p (0 when off). */
  readonly p: number;
  private readonly qb: QoeBlock | null;
  private readonly center: Float64Array;
  private readonly invScale: Float64Array;
  private readonly zStd: Float64Array;
  private readonly layout: KronLayout;
  private readonly armIndex = new Map<string, number>();
  private readonly ctxIndex = new Map<string, number>();

  constructor(catalogue: Catalogue, contextNames?: readonly (string | ContextFeatureSpec)[]) {
    const specs: ContextFeatureSpec[] | undefined = contextNames
      ? contextNames.map((s) => (typeof s === 'string' ? { name: s, center: 0, scale: 1 } : s))
      : catalogue.context
        ? [...catalogue.context]
        : undefined;
    if (!specs) {
      throw new BanditError({
        code: 'BAD_CATALOGUE',
        message: 'the context feature names are unknown',
        hint: 'list them in the catalogue ("context": ["cores","ghz",...]) or pass them to FeatureSpace',
      });
    }
    specs.forEach((s, i) => {
      if (!FEATURE_NAME_RE.test(s.name)) {
        throw new BanditError({
          code: 'BAD_CONTEXT',
          message: `context feature name "${s.name}" (at $.context[${i}]) is not a valid feature name`,
          path: `$.context.${s.name}`,
          hint: 'use [A-Za-z_][A-Za-z0-9_.-]* (no spaces, "|" or ":")',
        });
      }
    });
    this.catalogue = catalogue;
    this.contextNames = specs.map((s) => s.name);
    this.contextNames.forEach((n, i) => this.ctxIndex.set(n, i));
    this.armIds = catalogue.arms.map((a) => a.id);
    this.armIds.forEach((id, i) => this.armIndex.set(id, i));
    this.numArms = catalogue.arms.length;
    this.c = specs.length;
    this.m = catalogue.armFeatureNames.length;
    this.ctxDim = this.c + 1;
    this.center = Float64Array.from(specs.map((s) => s.center));
    this.invScale = Float64Array.from(specs.map((s) => 1 / s.scale));
    this.qb = compileQoeBlock(catalogue, specs);
    this.qoe = this.qb ? this.qb.info : null;
    this.p = this.qb ? this.qb.info.names.length : 0;
    this.interactions = catalogue.interactions ?? !this.qb;
    this.dim = 1 + this.c + this.m + (this.interactions ? this.c * this.m : 0) + this.p;
    this.layout = { c: this.c, m: this.m, p: this.p };
    // Standardise arm features over the catalogue.
    const K = this.numArms;
    const m = this.m;
    this.zStd = new Float64Array(K * m);
    catalogue.armFeatureNames.forEach((name, j) => {
      let mean = 0;
      for (const a of catalogue.arms) mean += a.features[name]!;
      mean /= K;
      let v = 0;
      for (const a of catalogue.arms) v += (a.features[name]! - mean) ** 2;
      const sd = Math.sqrt(v / K);
      catalogue.arms.forEach((a, i) => {
        this.zStd[i * m + j] = sd > 1e-12 ? (a.features[name]! - mean) / sd : 0;
      });
    });
  }

  newBatch(): FeatureBatch {
    return createBatch(this.numArms, this.dim, this.ctxDim, this.m + 1 + this.p);
  }

  armIndexOf(id: string): number | undefined {
    return this.armIndex.get(id);
  }

  /**
   * Encode a context record into out = [1, x̃]. Throws BAD_CONTEXT (missing / non-finite) or FEATURE_DIM_MISMATCH
   * (unknown names) with the JSON path of the offending field.
   */
  encodeContext(record: Readonly<Record<string, unknown>>, out: Float64Array, path = '$.context'): void {
    out[0] = 1;
    let seen = 0;
    for (const key in record) {
      const i = this.ctxIndex.get(key);
      if (i === undefined) {
        throw new BanditError({
          code: 'FEATURE_DIM_MISMATCH',
          message: `${path}.${key} is not a context feature of this catalogue (expected ${this.c} features: ${this.contextNames.join(', ')})`,
          path: `${path}.${key}`,
          hint: `send exactly these features: ${this.contextNames.join(', ')}`,
        });
      }
      const v = record[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new BanditError({
          code: 'BAD_CONTEXT',
          message: `${path}.${key} must be a finite number, got ${v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v))}`,
          path: `${path}.${key}`,
          hint: 'send every context feature as a JSON number (no NaN, Infinity, strings or null)',
        });
      }
      out[1 + i] = (v - this.center[i]!) * this.invScale[i]!;
      seen++;
    }
    if (seen !== this.c) {
      const missing = this.contextNames.filter((n) => !(n in record));
      throw new BanditError({
        code: 'BAD_CONTEXT',
        message: `${path} is missing feature(s) ${missing.join(', ')} (expected ${this.c}, got ${seen})`,
        path: `${path}.${missing[0] ?? ''}`,
        hint: `send exactly these features: ${this.contextNames.join(', ')}`,
      });
    }
  }

  /** Encode raw context values given in `contextNames` order (no validation beyond finiteness). */
  encodeContextValues(values: ArrayLike<number>, out: Float64Array, offset = 0): void {
    out[0] = 1;
    for (let i = 0; i < this.c; i++) {
      const v = values[offset + i]!;
      if (!Number.isFinite(v)) {
        throw new BanditError({
          code: 'BAD_CONTEXT',
          message: `context feature ${this.contextNames[i]} must be a finite number, got ${v}`,
          path: `$.context.${this.contextNames[i]}`,
          hint: 'replace missing or NaN values before choosing',
        });
      }
      out[1 + i] = (v - this.center[i]!) * this.invScale[i]!;
    }
  }

  /** Decode an encoded context back to raw values (for logs). */
  decodeContext(ctx: Float64Array): Record<string, number> {
    const r: Record<string, number> = {};
    for (let i = 0; i < this.c; i++) r[this.contextNames[i]!] = ctx[1 + i]! / this.invScale[i]! + this.center[i]!;
    return r;
  }

  /** Resolve an optional list of offered arm ids into catalogue indices (all arms when absent). */
  resolveArms(ids: readonly string[] | undefined, out: Int32Array, path = '$.arms'): number {
    if (!ids) {
      for (let i = 0; i < this.numArms; i++) out[i] = i;
      return this.numArms;
    }
    if (ids.length === 0 || ids.length > this.numArms) {
      throw new BanditError({
        code: 'UNKNOWN_ARM',
        message: `${path} must list 1..${this.numArms} arm ids, got ${ids.length}`,
        path,
        hint: 'omit "arms" to offer the whole catalogue',
      });
    }
    const seen = new Set<number>();
    ids.forEach((id, j) => {
      const i = this.armIndex.get(id);
      if (i === undefined) {
        throw new BanditError({
          code: 'UNKNOWN_ARM',
          message: `${path}[${j}] "${id}" is not an arm of the catalogue (known: ${this.armIds.slice(0, 20).join(', ')}${this.numArms > 20 ? ', …' : ''})`,
          path: `${path}[${j}]`,
          hint: 'use arm ids from the catalogue, or omit "arms" to offer all of them',
        });
      }
      if (seen.has(i)) {
        throw new BanditError({ code: 'UNKNOWN_ARM', message: `${path}[${j}] "${id}" is listed twice`, path: `${path}[${j}]`, hint: 'list each arm once' });
      }
      seen.add(i);
      out[j] = i;
    });
    return ids.length;
  }

  /** Fill batch.phi rows for the offered arms (batch.arms[0..k)) from batch.ctx. */
  fill(batch: FeatureBatch): void {
    const { dim, c, m, p } = this;
    const ctx = batch.ctx;
    const phi = batch.phi;
    const zs = m + 1 + p;
    const hasZbar = batch.zbar.length >= batch.k * zs;
    if (this.qb) this.qb.fill(batch, this.center, this.invScale, dim - p, dim, hasZbar ? zs : 0, m + 1);
    for (let j = 0; j < batch.k; j++) {
      const a = batch.arms[j]!;
      const base = j * dim;
      const zo = a * m;
      for (let i = 0; i <= c; i++) phi[base + i] = ctx[i]!;
      const zb = base + 1 + c;
      for (let q = 0; q < m; q++) phi[zb + q] = this.zStd[zo + q]!;
      if (this.interactions) {
        let p = zb + m;
        for (let i = 1; i <= c; i++) {
          const xi = ctx[i]!;
          for (let q = 0; q < m; q++) phi[p++] = xi * this.zStd[zo + q]!;
        }
      }
      if (hasZbar) {
        const zo2 = j * zs;
        batch.zbar[zo2] = 1;
        for (let q = 0; q < m; q++) batch.zbar[zo2 + 1 + q] = this.zStd[zo + q]!;
      }
    }
    batch.kron = this.interactions && hasZbar ? this.layout : null;
  }

  /** A buffer for qoeInputs (null when the space has no QoE block). */
  newQoeInputs(): QoeInputs | null {
    if (!this.qb) return null;
    return {
      wa: 0,
      wl: 0,
      we: 0,
      deadlineMs: 0,
      cls: 0,
      powerW: 0,
      battery: NaN,
      profile: new Float64Array(4),
      speedKey: NaN,
      acc: new Float64Array(this.numArms),
      latMs: new Float64Array(this.numArms),
    };
  }

  /** Fill `out` with the QoE block's inputs for a batch whose ctx and arms are set (see QoeInputs). */
  qoeInputs(batch: FeatureBatch, out: QoeInputs): void {
    if (!this.qb) throw new BanditError({ code: 'BAD_CONFIG', message: 'the feature space has no QoE block', hint: 'use a catalogue with the QoE block (see README "QoE block")' });
    this.qb.inputs(batch, this.center, this.invScale, out);
  }

  /** Names of the φ coordinates, in order (for inspection and docs). */
  featureNames(): string[] {
    const names = ['1', ...this.contextNames, ...this.catalogue.armFeatureNames];
    if (this.interactions) for (const x of this.contextNames) for (const zf of this.catalogue.armFeatureNames) names.push(`${x}*${zf}`);
    if (this.qoe) names.push(...this.qoe.names);
    return names;
  }

  /** Convenience: encode a context record and fill a batch for the offered arms. */
  prepare(batch: FeatureBatch, context: Readonly<Record<string, unknown>>, arms?: readonly string[]): void {
    this.encodeContext(context, batch.ctx);
    batch.k = this.resolveArms(arms, batch.arms);
    this.fill(batch);
  }
}

/**
 * The QoE block's inputs for one decision (FeatureSpace.qoeInputs): the user's normalised weights and deadline, the
 * device class, and per offered position j the accuracy term A_j and the predicted latency ℓ̂_j (ms, with speed and
 * load applied). `profile` holds the raw user-set features (w_acc, w_lat, w_energy, log_deadline_ms), which identify a
 * preference profile. Used by the structured `qoets` policy.
 */
export interface QoeInputs {
  wa: number;
  wl: number;
  we: number;
  /** Deadline L in ms. */
  deadlineMs: number;
  /** Index into QoeBlockInfo.classes. */
  cls: number;
  /** Nominal power (W) of the class. */
  powerW: number;
  /** Raw context feature `battery` (state of charge in [0, 1]), NaN when the context has none. */
  battery: number;
  readonly profile: Float64Array;
  /**
   * Raw context feature `log_speed` (9 significant digits), NaN when the context has none. With the class it identifies
   * a device type (its speed relative to the class's nominal peak), as `profile` identifies a preference profile.
   */
  speedKey: number;
  readonly acc: Float64Array;
  readonly latMs: Float64Array;
}

/** Resolved QoE block (public view). */
export interface QoeBlockInfo {
  /** Names of the block's features, in φ order. */
  readonly names: readonly string[];
  /** Device classes found as arm features `lat_<class>`, and the class taken when no one-hot is set (or null). */
  readonly classes: readonly string[];
  readonly baselineClass: string | null;
  readonly accLo: number;
  readonly accHi: number;
  readonly tauFraction: number;
  readonly energyScalesMj: readonly number[];
  readonly powerW: Readonly<Record<string, number>>;
  /** Optional context features used when present (predicted latency × exp(−log_speed) × (1 + load)). */
  readonly usesSpeed: boolean;
  readonly usesLoad: boolean;
  /** Classes without catalogue latency (predicted by the cross-class geometric mean). */
  readonly coldClasses: readonly string[];
  /** Classes with per-(class, arm) residual features `qoe_res_<class>_<arm>`. */
  readonly residualClasses: readonly string[];
}

/** Context features the QoE block needs (user-set weights and deadline) and uses when present. */
export const QOE_CONTEXT_FEATURES = ['w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'] as const;
export const QOE_OPTIONAL_CONTEXT_FEATURES = ['log_speed', 'load'] as const;

function missingFeature(what: string, path: string, explicit: boolean): null {
  if (!explicit) return null;
  throw new BanditError({
    code: 'MISSING_FEATURE',
    message: `the QoE feature block needs ${what}`,
    path,
    hint:
      'the block needs arm features acc and lat_<class> (log ms per device class), context features ' +
      `${QOE_CONTEXT_FEATURES.join(', ')} and a one-hot context feature <class> for every class but one; ` +
      'add them, or set "qoe": false in the catalogue',
  });
}

/**
 * Per-decision computation of the QoE block. Per-arm quantities (accuracy term, predicted latency per class) are
 * precomputed; a decision costs one context decode and (2 + #energy scales) exp() per arm.
 */
class QoeBlock {
  constructor(
    readonly info: QoeBlockInfo,
    private readonly nArmsCls: number,
    /** numArms × classes: predicted latency in ms at nominal speed. */
    private readonly latMs: Float64Array,
    private readonly accTerm: Float64Array,
    /** Context index of each class's one-hot (−1 for the baseline class). */
    private readonly classCtx: Int32Array,
    private readonly baseline: number,
    private readonly power: Float64Array,
    /** Context indices of w_acc, w_lat, w_energy, log_deadline_ms, log_speed (−1), load (−1). */
    private readonly ix: Int32Array,
    private readonly invE: Float64Array,
    private readonly invEmid: number,
    private readonly numArms: number,
    /** Per class: its slot among the residual classes (−1 = none). */
    private readonly resSlot: Int32Array,
  ) {
    let n = 0;
    for (const r of resSlot) if (r >= 0) n++;
    this.nRes = n * numArms;
  }

  private readonly nRes: number;

  /** Inputs of the block's QoE model for a batch (weights, deadline, class, per-position A and ℓ̂). */
  inputs(batch: FeatureBatch, center: Float64Array, invScale: Float64Array, out: QoeInputs): void {
    const ctx = batch.ctx;
    const raw = (i: number): number => ctx[1 + i]! / invScale[i]! + center[i]!;
    const d = this.decode(raw);
    out.wa = d.wa;
    out.wl = d.wl;
    out.we = d.we;
    out.deadlineMs = d.L;
    out.cls = d.cls;
    out.powerW = this.power[d.cls]!;
    out.battery = this.ix[6]! >= 0 ? raw(this.ix[6]!) : NaN;
    for (let i = 0; i < 4; i++) out.profile[i] = Number(raw(this.ix[i]!).toPrecision(9));
    out.speedKey = this.ix[4]! >= 0 ? Number(raw(this.ix[4]!).toPrecision(9)) : NaN;
    const nc = this.nArmsCls;
    for (let j = 0; j < batch.k; j++) {
      const a = batch.arms[j]!;
      out.acc[j] = this.accTerm[a]!;
      out.latMs[j] = this.latMs[a * nc + d.cls]! * d.speed;
    }
  }

  private decode(raw: (i: number) => number): { wa: number; wl: number; we: number; L: number; speed: number; cls: number } {
    const ix = this.ix;
    let wa = Math.max(0, raw(ix[0]!));
    let wl = Math.max(0, raw(ix[1]!));
    let we = Math.max(0, raw(ix[2]!));
    const sw = wa + wl + we;
    if (!(sw > 0)) {
      throw new BanditError({
        code: 'BAD_CONTEXT',
        message: `$.context: the QoE weights w_acc, w_lat, w_energy must not all be ≤ 0 (got ${wa}, ${wl}, ${we})`,
        path: '$.context.w_acc',
        hint: 'send the user-set weights (they are normalised to sum to 1)',
      });
    }
    wa /= sw;
    wl /= sw;
    we /= sw;
    const L = Math.exp(raw(ix[3]!));
    const speed = (ix[4]! >= 0 ? Math.exp(-raw(ix[4]!)) : 1) * (ix[5]! >= 0 ? 1 + Math.max(0, raw(ix[5]!)) : 1);
    let cls = this.baseline;
    let best = 0.5;
    for (let k = 0; k < this.classCtx.length; k++) {
      const ci = this.classCtx[k]!;
      if (ci < 0) continue;
      const v = raw(ci);
      if (v > best) {
        best = v;
        cls = k;
      }
    }
    if (cls < 0) {
      throw new BanditError({
        code: 'BAD_CONTEXT',
        message: `$.context: no device class one-hot is set (one of ${this.info.classes.join(', ')} must be 1)`,
        path: `$.context.${this.info.classes[0]}`,
        hint: 'set the device class one-hot of the requesting device',
      });
    }
    return { wa, wl, we, L, speed, cls };
  }

  fill(batch: FeatureBatch, center: Float64Array, invScale: Float64Array, off: number, dim: number, zs: number, zoff: number): void {
    const ctx = batch.ctx;
    const raw = (i: number): number => ctx[1 + i]! / invScale[i]! + center[i]!;
    const { wa, wl, we, L, speed, cls } = this.decode(raw);
    const invTau = 1 / (this.info.tauFraction * L);
    const pw = this.power[cls]!;
    const nE = this.invE.length;
    const nb = 5 + 2 * nE;
    const nR = this.nRes;
    const pAll = nb + nR;
    const resW = 1 - wa;
    const slot = this.resSlot[cls]!;
    const resOff = slot * this.numArms;
    const nc = this.nArmsCls;
    const phi = batch.phi;
    const zb = batch.zbar;
    for (let j = 0; j < batch.k; j++) {
      const a = batch.arms[j]!;
      const lat = this.latMs[a * nc + cls]! * speed;
      const A = this.accTerm[a]!;
      const x = (L - lat) * invTau;
      const S = x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
      const e = pw * lat;
      const o = j * dim + off;
      phi[o] = wa * A;
      phi[o + 1] = wl * S;
      phi[o + 2 + nE] = A;
      phi[o + 3 + nE] = S;
      for (let k = 0; k < nE; k++) {
        const E = Math.exp(-e * this.invE[k]!);
        phi[o + 2 + k] = we * E;
        phi[o + 4 + nE + k] = E;
      }
      phi[o + 4 + 2 * nE] = wa * A + wl * S + we * Math.exp(-e * this.invEmid);
      if (nR > 0) {
        phi.fill(0, o + nb, o + nb + nR);
        if (slot >= 0) phi[o + nb + resOff + a] = resW;
      }
      if (zs > 0) {
        const zo = j * zs + zoff;
        for (let q = 0; q < pAll; q++) zb[zo + q] = phi[o + q]!;
      }
    }
  }
}

function compileQoeBlock(catalogue: Catalogue, specs: readonly ContextFeatureSpec[]): QoeBlock | null {
  const setting = catalogue.qoe;
  if (setting === false) return null;
  const explicit = setting !== undefined;
  const opts: QoeBlockOptions = typeof setting === 'object' ? setting : {};
  const armNames = catalogue.armFeatureNames;
  const accName = armNames.includes('acc') ? 'acc' : armNames.includes('accuracy') ? 'accuracy' : null;
  if (!accName) return missingFeature('arm feature "acc" (top-1 accuracy in [0, 1])', '$.arms[0].features.acc', explicit);
  const known = armNames.filter((n) => /^lat_./.test(n)).map((n) => n.slice(4));
  if (known.length === 0) {
    return missingFeature('arm features "lat_<class>" (predicted log latency in ms per device class)', '$.arms[0].features.lat_cpu', explicit);
  }
  const cold = (opts.coldClasses ?? []).filter((c) => !known.includes(c));
  const classes = [...known, ...cold];
  const ctxIdx = new Map(specs.map((s, i) => [s.name, i]));
  const ix = new Int32Array(7);
  for (let i = 0; i < QOE_CONTEXT_FEATURES.length; i++) {
    const n = QOE_CONTEXT_FEATURES[i]!;
    const k = ctxIdx.get(n);
    if (k === undefined) return missingFeature(`context feature "${n}"`, `$.context.${n}`, explicit);
    ix[i] = k;
  }
  ix[4] = ctxIdx.get('log_speed') ?? -1;
  ix[5] = ctxIdx.get('load') ?? -1;
  ix[6] = ctxIdx.get('battery') ?? -1;
  const classCtx = Int32Array.from(classes.map((cl) => ctxIdx.get(cl) ?? -1));
  const lacking = classes.filter((_, k) => classCtx[k]! < 0);
  if (lacking.length > 1) {
    return missingFeature(
      `a one-hot context feature for every device class but one; classes ${lacking.map((l) => `"${l}"`).join(', ')} have none (classes from lat_<class>: ${classes.join(', ')})`,
      `$.context.${lacking[1]}`,
      explicit,
    );
  }
  const coldLacking = lacking.filter((l) => cold.includes(l));
  if (coldLacking.length > 0) {
    throw new BanditError({
      code: 'MISSING_FEATURE',
      message: `the QoE feature block needs a one-hot context feature for cold class "${coldLacking[0]}" (listed in qoe.coldClasses)`,
      path: `$.context.${coldLacking[0]}`,
      hint: 'add the class one-hot to the context list, or remove the class from qoe.coldClasses',
    });
  }
  const baseline = lacking.length === 1 ? classes.indexOf(lacking[0]!) : -1;
  const accLo = opts.accLo ?? QOE_BLOCK_DEFAULTS.accLo;
  const accHi = opts.accHi ?? QOE_BLOCK_DEFAULTS.accHi;
  if (!(accHi > accLo)) {
    throw new BanditError({ code: 'BAD_CATALOGUE', message: `$.qoe: accHi (${accHi}) must be > accLo (${accLo})`, path: '$.qoe.accHi', hint: 'e.g. accLo 0.5, accHi 0.8' });
  }
  const tauFraction = opts.tauFraction ?? QOE_BLOCK_DEFAULTS.tauFraction;
  const energyScalesMj = [...(opts.energyScalesMj ?? QOE_BLOCK_DEFAULTS.energyScalesMj)];
  const powerW: Record<string, number> = {};
  for (const cl of classes) powerW[cl] = opts.powerW?.[cl] ?? 1;
  const K = catalogue.arms.length;
  const nc = classes.length;
  const latMs = new Float64Array(K * nc);
  const accTerm = new Float64Array(K);
  catalogue.arms.forEach((a, i) => {
    accTerm[i] = Math.min(1, Math.max(0, (a.features[accName]! - accLo) / (accHi - accLo)));
    // Cold classes: the geometric mean of the catalogued class latencies (a prior, corrected by the residuals).
    let meanLog = 0;
    for (const cl of known) meanLog += a.features[`lat_${cl}`]! / known.length;
    classes.forEach((cl, k) => (latMs[i * nc + k] = Math.exp(known.includes(cl) ? a.features[`lat_${cl}`]! : meanLog)));
  });
  const resClasses = opts.classResiduals === true ? classes : opts.classResiduals === false ? [] : cold;
  const armTok = (id: string) => id.replace(/[^A-Za-z0-9_.-]/g, '_');
  const eNames = energyScalesMj.map((e) => String(e).replace(/[^A-Za-z0-9_.-]/g, '_'));
  const names = [
    'qoe_w_acc_term',
    'qoe_w_lat_term',
    ...eNames.map((e) => `qoe_w_energy_term_E${e}`),
    'qoe_acc_term',
    'qoe_lat_term',
    ...eNames.map((e) => `qoe_energy_term_E${e}`),
    'qoe_pred',
    ...resClasses.flatMap((cl) => catalogue.arms.map((a) => `qoe_res_${cl}_${armTok(a.id)}`)),
  ];
  const eMid = Math.exp(energyScalesMj.reduce((s, e) => s + Math.log(e), 0) / energyScalesMj.length);
  const info: QoeBlockInfo = {
    names,
    classes,
    baselineClass: baseline >= 0 ? classes[baseline]! : null,
    accLo,
    accHi,
    tauFraction,
    energyScalesMj,
    powerW,
    usesSpeed: ix[4]! >= 0,
    usesLoad: ix[5]! >= 0,
    coldClasses: cold,
    residualClasses: resClasses,
  };
  return new QoeBlock(
    info,
    nc,
    latMs,
    accTerm,
    classCtx,
    baseline,
    Float64Array.from(classes.map((cl) => powerW[cl]!)),
    ix,
    Float64Array.from(energyScalesMj.map((e) => 1 / e)),
    1 / eMid,
    K,
    Int32Array.from(classes.map((cl) => resClasses.indexOf(cl))),
  );
}
