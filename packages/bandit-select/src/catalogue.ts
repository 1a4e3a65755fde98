/**
 * Catalogue of arms (model variants) and the action-dependent feature map φ(context, arm).
 *
 * φ = [1, x̃, z̃, x̃ ⊗ z̃] (or [1, x̃, z̃] without interactions), where x̃ is the context scaled by the catalogue's
 * per-feature center/scale and z̃ is the arm's features standardised over the catalogue (mean 0, sd 1).
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
  /** Add x̃ ⊗ z̃ interaction features (default true, like VW `-q`). */
  interactions: z.boolean().optional(),
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
  readonly interactions: boolean;
}

/** Validate a catalogue object (e.g. parsed JSON). Throws BAD_CATALOGUE with the JSON path of the first problems. */
export function parseCatalogue(input: unknown, source = 'catalogue'): Catalogue {
  const r = catalogueSchema.safeParse(input);
  if (!r.success) {
    throw new BanditError({
      code: 'BAD_CATALOGUE',
      message: `${source}: ${formatIssues(
        r.error.issues.map((i) =>
          i.code === 'invalid_key' ? { ...i, message: 'feature names must match [A-Za-z_][A-Za-z0-9_.-]* (no spaces, "|" or ":")' } : i,
        ),
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
    context = r.data.context.map((c) =>
      typeof c === 'string' ? { name: c, center: 0, scale: 1 } : { name: c.name, center: c.center ?? 0, scale: c.scale ?? 1 },
    );
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
    interactions: r.data.interactions ?? true,
  };
}

/** JSON form of a catalogue (what `parseCatalogue` accepts). */
export function catalogueToJSON(c: Catalogue): CatalogueInput {
  return {
    arms: c.arms.map((a) => ({ id: a.id, features: { ...a.features } })),
    ...(c.context ? { context: c.context.map((s) => ({ name: s.name, center: s.center, scale: s.scale })) } : {}),
    interactions: c.interactions,
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
   * Set by FeatureSpace.fill when φ has the full interaction layout [1, x̃, z̃, x̃⊗z̃], i.e. φ = vec([1, x̃] ⊗ [1, z̃]).
   * Policies then score all arms with one pass over A⁻¹ instead of one per arm. `zbar` holds [1, z̃] per position.
   */
  kron: KronLayout | null;
  readonly zbar: Float64Array;
}

/** φ = [1, x̃ (c), z̃ (m), x̃⊗z̃ (c·m)]: the Kronecker product of [1, x̃] and [1, z̃] in this index order. */
export interface KronLayout {
  readonly c: number;
  readonly m: number;
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
    this.interactions = catalogue.interactions;
    this.dim = 1 + this.c + this.m + (this.interactions ? this.c * this.m : 0);
    this.layout = { c: this.c, m: this.m };
    this.center = Float64Array.from(specs.map((s) => s.center));
    this.invScale = Float64Array.from(specs.map((s) => 1 / s.scale));
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
    return createBatch(this.numArms, this.dim, this.ctxDim, this.m + 1);
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
          message: `${path}.${key} must be a finite number, got ${v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v)}`,
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
    const { dim, c, m } = this;
    const ctx = batch.ctx;
    const phi = batch.phi;
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
      if (batch.zbar.length >= (j + 1) * (m + 1)) {
        const zo2 = j * (m + 1);
        batch.zbar[zo2] = 1;
        for (let q = 0; q < m; q++) batch.zbar[zo2 + 1 + q] = this.zStd[zo + q]!;
      }
    }
    batch.kron = this.interactions && batch.zbar.length >= batch.k * (m + 1) ? this.layout : null;
  }

  /** Convenience: encode a context record and fill a batch for the offered arms. */
  prepare(batch: FeatureBatch, context: Readonly<Record<string, unknown>>, arms?: readonly string[]): void {
    this.encodeContext(context, batch.ctx);
    batch.k = this.resolveArms(arms, batch.arms);
    this.fill(batch);
  }
}
