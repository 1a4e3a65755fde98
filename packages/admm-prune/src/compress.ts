/**
 * The ADMM-NN pipeline (ALGORITHMS §1.4): per-layer ratios (recipe, validation search, hardware-aware rule)
 * → ADMM pruning → hard prune + masked retraining → interval scan + quantization ADMM → progressive quantized
 * retraining → final projection → encodings, storage accounting three ways, and the report.
 */
import {
  CompressionError,
  cosineDecay,
  countNonZero,
  denseEncoding,
  evaluateModel,
  inferShapes,
  layerReport,
  maskedEncoding,
  refreshBatchNormStats,
  serializeModel,
  sizeOf,
  subset,
  summarize,
  teacherTargets,
  toDense,
  type CompressContext,
  type CompressResult,
  type Encoding,
  type Model,
  type Plan,
  type Report,
  type Target,
} from '@edge-compress/core';
import { bitsOfDtype, type AdmmConfig, type AdmmOptions } from './config.js';
import { checkAccepts, encodeWeight } from './encode.js';
import { AdmmEngine, splitValidation, type AdmmTarget, type IterationRecord } from './engine.js';
import {
  applyMask,
  GLOBAL_FLOOR_DIVISOR,
  globalSparseMasks,
  groupsOf,
  levelsPerSide,
  progressiveFreeze,
  projectQuant,
  quantCodes,
  rampedSparsity,
  relativeResidual,
  rhoAt,
  scanInterval,
  INTERVAL_SCAN_FROM,
  sparseMask,
  type Granularity,
} from './math.js';
import { allocateSparsity, AUTO_SPARSITY_CANDIDATES, breakEvenRatio, hardwareAwareRatio, largestPassing, SENSITIVITY_GRID } from './search.js';
import { storageAccount, type StorageAccount } from './storage.js';

export type AdmmPlan = Plan<AdmmConfig, AdmmOptions>;

export interface AdmmLayerChoice {
  layer: string;
  weight: string;
  sparseRatio: number;
  source: 'recipe' | 'search';
  /** Break-even pruning ratio from the cost function (hardware_aware only). */
  breakEvenRatio?: number;
  /** Sparse ratio before the hardware rule changed it. */
  requestedSparseRatio?: number;
}

/** How `global_sparse_ratio: 'auto'` chose the global target (validation split only). */
export interface AutoSparsity {
  chosen: number;
  maxDrop: number;
  probeEpochs: number;
  /** Validation accuracy of the input model, the reference of every probe. */
  valAccuracyInput: number;
  /** Probes in the order they ran (bisection over AUTO_SPARSITY_CANDIDATES). */
  probes: { target: number; valAccuracy: number; passed: boolean }[];
}

export interface AdmmReport extends Report {
  admm: {
    choices: AdmmLayerChoice[];
    pruneIterations: IterationRecord[];
    quantIterations: IterationRecord[];
    /** Bits per non-zero counted as the paper does (data only), with indices and scales, per layer. */
    storage: StorageAccount;
    /** Same accounting before quantization (fp32 non-zeros). */
    prunedStorage: StorageAccount;
    /** Real bytes of the files core saveModel writes (our loader's files; core serializeModel), input vs output. */
    files?: { inputBytes: number; outputBytes: number; ratio: number };
    validation: 'context' | 'carved from train';
    /** Knowledge distillation used in every training phase, and whose probabilities were the targets. */
    distill: { weight: number; temperature: number; teacher: 'input model' | 'ctx.teacher' } | null;
    /** Present when `global_sparse_ratio` was 'auto' and some layer had no sparse_ratio. */
    auto?: AutoSparsity;
    /**
     * Present with `dynamic_mask`: epochs with a moving mask, mask updates, and per pruned weight its final kept count, the entries the
     * updates changed in total and the entries of the hard projection's mask that are pruned in the final one.
     */
    dynamicMask?: { epochs: number; maskUpdates: number; layers: { weight: string; kept: number; changedEntries: number; droppedFromHardProjection: number }[] };
    /** Present with `weight_averaging`: the number of retraining epochs whose end-of-epoch weights were averaged (1: only the last, with a warning). */
    averagedEpochs?: number;
  };
}

const fail = (message: string, hint?: string, layer?: string): never => {
  throw new CompressionError({ code: 'BAD_CONFIG', method: 'admm', layer, message, hint });
};

/**
 * A compress context that may name the teacher of `options.distill` (e.g. the dense model when this stage starts
 * from a magnitude-pruned or an already ADMM-pruned model). Without it the teacher is the stage's input model.
 */
export type AdmmContext = CompressContext & { teacher?: Model };

const teacherOf = (ctx: CompressContext, model: Model): Model => {
  const t = (ctx as AdmmContext).teacher;
  if (t === undefined) return model;
  if (!t || typeof t !== 'object' || !t.ir || !t.weights)
    throw new CompressionError({
      code: 'BAD_CONFIG',
      method: 'admm',
      path: 'ctx.teacher',
      message: `ctx.teacher must be a Model ({ir, weights}), got ${typeof t}`,
      hint: 'omit it to distill from the input model',
    });
  if (JSON.stringify(t.ir.inputShape) !== JSON.stringify(model.ir.inputShape))
    throw new CompressionError({
      code: 'BAD_CONFIG',
      method: 'admm',
      path: 'ctx.teacher',
      message: `ctx.teacher takes inputs of shape [${t.ir.inputShape.join(', ')}], expected [${model.ir.inputShape.join(', ')}] (the model's)`,
      hint: 'pass the dense model this one was pruned from',
    });
  return t;
};

export async function compressAdmm(model: Model, ctx: CompressContext, plan: AdmmPlan): Promise<CompressResult> {
  const o = plan.options;
  plan.targets.forEach((t) => checkAccepts(model.weights[t.weight]!, t.weight, `admm (layer '${t.layer}')`));
  if (o.dynamicMask?.allocation === 'global') {
    const structured = plan.targets.find((t) => t.config.granularity !== undefined && t.config.granularity !== 'default');
    if (structured)
      fail(
        `options.dynamic_mask.allocation 'global' shares one budget of single weights across layers, but layer '${structured.layer}' is pruned with granularity ${JSON.stringify(structured.config.granularity)}`,
        "use allocation 'layer' with structured granularities",
        structured.layer,
      );
  }
  if (o.hardwareAware && !ctx.cost)
    fail('options.hardware_aware needs a cost function in the compress context (ctx.cost)', 'the app wires hw-cost in; without it, remove hardware_aware');
  const { train, val, carved } = splitValidation(ctx, o.valFraction, ctx.seed);
  const warnings: string[] = [];
  if (carved)
    warnings.push(
      `no validation split in the context: ${val.count} training examples were held out (stratified, seed ${ctx.seed}) for every choice; training used the other ${train.count}`,
    );
  const progress = (ev: Record<string, unknown> & { phase: string; epoch: number; epochs: number; loss: number; done: boolean }): void => {
    const full = { step: 1, stepsPerEpoch: 1, method: 'admm', ...ev };
    ctx.onProgress?.(full);
  };
  // One progress event per ADMM iteration (loss, residual, ρ, val accuracy) for the CLI's bars.
  const iterationProgress =
    (phase: string, iterations: number) =>
    (r: IterationRecord): void =>
      progress({
        phase,
        epoch: r.iteration - 1,
        epochs: iterations,
        loss: r.loss,
        done: r.iteration === iterations,
        valAccuracy: r.valAccuracy,
        rho: r.rho,
        residual: r.residual,
        iteration: r.iteration,
      });
  const engine = new AdmmEngine(
    model,
    plan.targets.map((t) => t.weight),
    { train, val },
    {
      lr: o.lr,
      admmOptimizer: o.admmOptimizer === 'sgd' ? { kind: 'sgd', lr: o.sgdLr, momentum: o.momentum } : { kind: 'adam' },
      batchSize: o.batchSize,
      weightDecay: o.weightDecay,
      seed: ctx.seed,
      augment: o.augment ? { maxShift: o.augment.maxShift, imageShape: o.augment.imageShape as [number, number, number] | undefined } : undefined,
      signal: ctx.signal,
      onProgress: ctx.onProgress,
      // Knowledge distillation from the input model (the net before this stage) in every training phase.
      ...(o.distill ? { distill: { targets: teacherTargets(teacherOf(ctx, model), train, { temperature: o.distill.temperature }), weight: o.distill.weight } } : {}),
      ...(o.workers !== null ? { workers: o.workers } : {}),
    },
  );
  try {
    const valDense = engine.evaluate().accuracy;
    // An already-masked input (e.g. an earlier admm or magnitude stage) keeps its zeros: its mask bounds every projection.
    const layers = plan.targets.map((t) => {
      const e = model.weights[t.weight]!;
      const m0 = e.kind === 'masked' ? e.mask : null;
      if (m0) engine.setMask(t.weight, m0);
      return { t, m0, groups: groupsOf(t.shape, t.config.granularity as Granularity | undefined), w0: engine.read(t.weight) };
    });
    // An input mask bounds every projection: project its restriction of v, then keep only entries it keeps.
    const restrict = (v: Float32Array, l: (typeof layers)[number]): Float32Array => (l.m0 ? applyMask(v, l.m0) : v);
    const within = (m: Uint8Array, l: (typeof layers)[number]): Uint8Array => {
      if (l.m0) for (let i = 0; i < m.length; i++) m[i] = m[i]! & l.m0[i]!;
      return m;
    };
    const pruneMask = (v: Float32Array, l: (typeof layers)[number], sparse: number): Uint8Array => within(sparseMask(restrict(v, l), l.groups, sparse), l);

    // 1. Per-layer ratios: the recipe's, or searched on validation under the global target.
    const choices: AdmmLayerChoice[] = layers.map(({ t }) => ({
      layer: t.layer,
      weight: t.weight,
      sparseRatio: t.config.sparseRatio ?? NaN,
      source: t.config.sparseRatio === undefined ? 'search' : 'recipe',
    }));
    const open = layers.map((l, i) => i).filter((i) => choices[i]!.source === 'search');
    let auto: AutoSparsity | undefined;
    if (open.length > 0) {
      const requested = o.globalSparseRatio;
      const top = SENSITIVITY_GRID[SENSITIVITY_GRID.length - 1]!;
      const grid = requested !== 'auto' && requested > top ? [...SENSITIVITY_GRID, requested] : [...SENSITIVITY_GRID];
      const sample = subset(val, Math.min(val.count, o.searchSamples));
      const base = engine.evaluate(new Map(), sample).loss;
      const curves = open.map((i) => {
        const l = layers[i]!;
        return {
          size: sizeOf(l.t.shape),
          cost: grid.map((s) => (s === 0 ? 0 : engine.evaluate(new Map([[l.t.weight, applyMask(l.w0, pruneMask(l.w0, l, s))]]), sample).loss - base)),
        };
      });
      let target: number;
      if (requested === 'auto') {
        // The model sizes the target: bisect the candidates with a short masked-training probe each (magnitude masks
        // at the allocated ratios, batch-norm statistics re-estimated), on the validation split.
        const probes: AutoSparsity['probes'] = [];
        const candidates = AUTO_SPARSITY_CANDIDATES;
        const floor = valDense - o.autoMaxDrop;
        const found = await largestPassing(candidates.length, async (k) => {
          const ratios = allocateSparsity(curves, grid, candidates[k]!);
          const masks = new Map(open.map((i, j) => [layers[i]!.t.weight, pruneMask(layers[i]!.w0, layers[i]!, ratios[j]!)] as const));
          const probed = await engine.probeMasked(
            masks,
            layers.map((l) => l.t.weight),
            o.autoProbeEpochs,
            `auto-sparsity ${candidates[k]}`,
          );
          const refreshed = refreshBatchNormStats(model, probed, train).model;
          const valAccuracy = evaluateModel(refreshed, val).accuracy;
          const passed = valAccuracy >= floor;
          probes.push({ target: candidates[k]!, valAccuracy, passed });
          return passed;
        });
        target = candidates[Math.max(0, found)]!;
        auto = { chosen: target, maxDrop: o.autoMaxDrop, probeEpochs: o.autoProbeEpochs, valAccuracyInput: valDense, probes };
        if (found < 0)
          warnings.push(
            `global_sparse_ratio 'auto': even ${(target * 100).toFixed(0)}% sparsity lost more than ${(o.autoMaxDrop * 100).toFixed(1)} pp of validation accuracy in its probe (${probes.map((p) => `${p.target}: ${(p.valAccuracy * 100).toFixed(1)}%`).join(', ')}; input ${(valDense * 100).toFixed(1)}%); pruning at ${target} anyway — this model has little to spare, so set a lower global_sparse_ratio or sparse_ratio, or skip pruning`,
          );
      } else target = requested;
      const ratios = allocateSparsity(curves, grid, target);
      open.forEach((i, k) => (choices[i]!.sparseRatio = ratios[k]!));
    }
    // Hardware-aware rule (ALGORITHMS §1.6): conv layers below margin·break-even stay dense.
    if (o.hardwareAware) {
      const macs = new Map(inferShapes(model.ir).map((s) => [s.layer.name, s.macs]));
      layers.forEach((l, i) => {
        const { t, w0 } = l;
        const c = choices[i]!;
        const m = macs.get(t.layer) ?? 0;
        const dense = ctx.cost!(t.layer, t.kind, summarize(denseEncoding(t.shape, w0)), m).latencyMs;
        const r = breakEvenRatio((ratio) => {
          const mask = pruneMask(w0, l, 1 - 1 / ratio);
          return ctx.cost!(t.layer, t.kind, summarize(maskedEncoding(denseEncoding(t.shape, applyMask(w0, mask)), mask)), m).latencyMs;
        }, dense);
        c.breakEvenRatio = r;
        const s = hardwareAwareRatio(c.sparseRatio, r, t.kind === 'conv2d', o.hardwareAware!.margin);
        if (s !== c.sparseRatio) {
          c.requestedSparseRatio = c.sparseRatio;
          c.sparseRatio = s;
          warnings.push(
            `hardware_aware: ${t.layer} kept dense: pruning ratio ${(1 / (1 - c.requestedSparseRatio)).toFixed(2)}× is below ${o.hardwareAware!.margin}× its break-even ratio ${r}×`,
          );
        }
      });
    }

    // 2. ADMM pruning.
    const pruned = layers.map((l, i) => ({ ...l, sparse: choices[i]!.sparseRatio })).filter((l) => l.sparse > 0);
    const pruneTargets: AdmmTarget[] = pruned.map((l) => ({
      weight: l.t.weight,
      rho: l.t.config.rho ?? o.rho,
      project: (v, k) => applyMask(v, pruneMask(v, l, rampedSparsity(k, o.admmIterations, l.sparse, o.sparsityRamp))),
      setChanges: (k) => rampedSparsity(k, o.admmIterations, l.sparse, o.sparsityRamp) !== rampedSparsity(k - 1, o.admmIterations, l.sparse, o.sparsityRamp),
    }));
    const pruneIterations =
      pruneTargets.length === 0 || o.admmIterations === 0
        ? []
        : await engine.admm(
            pruneTargets,
            o.admmIterations,
            o.epochsPerIteration,
            (k, t) => rhoAt(k, t.rho, o.rhoGrowth, Math.max(o.rhoMax, t.rho)),
            'admm-prune',
            iterationProgress('admm-prune', o.admmIterations),
            { mode: o.penalty, step: o.penaltyStep },
          );

    // 3. Hard prune and masked retraining. Validation accuracy of the ADMM weights themselves (before the hard
    // projection), after the projection, and after retraining: where the accuracy is lost.
    const valAfterAdmm = pruneIterations.length > 0 ? engine.evaluate().accuracy : valDense;
    let masks = new Map(pruned.map((l) => [l.t.weight, pruneMask(engine.read(l.t.weight), l, l.sparse)] as const));
    const valHardPruned = engine.evaluate(new Map([...masks].map(([n, m]) => [n, applyMask(engine.read(n), m)]))).accuracy;
    // One cosine lr → lr·floor over all retraining epochs; with dynamic_mask its first part moves the mask.
    const schedule = cosineDecay(o.lr, o.retrainEpochs, o.retrainLrFloor);
    const dynamicEpochs = o.dynamicMask && pruned.length > 0 ? Math.round(o.dynamicMask.fraction * o.retrainEpochs) : 0;
    let dynamic: AdmmReport['admm']['dynamicMask'];
    if (dynamicEpochs > 0) {
      const before = masks;
      const sharedBudget = (): ((ws: Float32Array[]) => Uint8Array[]) => {
        // One budget: the counts of the per-layer projections; scales: the mean kept |w| of each at the start.
        const start = pruned.map((l) => masks.get(l.t.weight)!);
        const counts = start.map(countNonZero);
        const scales = pruned.map((l, k) => {
          const w = engine.read(l.t.weight);
          let s = 0;
          for (let i = 0; i < w.length; i++) if (start[k]![i]) s += Math.abs(w[i]!);
          return s / Math.max(1, counts[k]!);
        });
        const budget = counts.reduce((a, c) => a + c, 0);
        const floors = counts.map((c) => Math.ceil(c / GLOBAL_FLOOR_DIVISOR));
        return (ws) =>
          globalSparseMasks(
            ws.map((w, k) => restrict(w, pruned[k]!)),
            scales,
            budget,
            floors,
          ).map((m, k) => within(m, pruned[k]!));
      };
      const project = o.dynamicMask!.allocation === 'global' ? sharedBudget() : (ws: Float32Array[]) => ws.map((w, k) => pruneMask(w, pruned[k]!, pruned[k]!.sparse));
      const r = await engine.retrainDynamic(
        pruned.map((l) => l.t.weight),
        project,
        dynamicEpochs,
        schedule,
        o.dynamicMask!.intervalSteps,
        o.dynamicMask!.prunedDecay,
      );
      masks = r.masks;
      const moved = (n: string) => before.get(n)!.reduce((a, v, i) => a + (v & (1 - masks.get(n)![i]!)), 0);
      dynamic = {
        epochs: dynamicEpochs,
        maskUpdates: r.updates,
        layers: pruned.map((l) => ({
          weight: l.t.weight,
          kept: countNonZero(masks.get(l.t.weight)!),
          changedEntries: r.changed[l.t.weight]!,
          droppedFromHardProjection: moved(l.t.weight),
        })),
      };
    }
    for (const [n, m] of masks) engine.setMask(n, m);
    const inputMasks = new Map(layers.flatMap((l) => (l.m0 ? [[l.t.weight, l.m0] as const] : [])));
    const fixedEpochs = o.retrainEpochs - dynamicEpochs;
    const averageFrom = o.weightAveraging ? Math.floor(o.weightAveraging.from * fixedEpochs) : undefined;
    if (averageFrom !== undefined && fixedEpochs - averageFrom < 2)
      warnings.push(
        `admm: weight_averaging has ${Math.max(0, fixedEpochs - averageFrom)} fixed-mask retraining epoch(s) to average (retrain_epochs ${o.retrainEpochs}${dynamicEpochs ? `, ${dynamicEpochs} of them with the moving mask` : ''}, from ${o.weightAveraging!.from}), so the result is the last epoch's weights; raise retrain_epochs or lower from`,
      );
    await engine.retrainMasked(
      new Map([...inputMasks, ...masks]),
      layers.map((l) => l.t.weight),
      fixedEpochs,
      'retrain',
      (i) => schedule({ ...i, epoch: i.epoch + dynamicEpochs }),
      undefined,
      averageFrom,
    );
    const valPruned = engine.evaluate().accuracy;
    const maskOf = (t: Target<AdmmConfig>) => masks.get(t.weight) ?? inputMasks.get(t.weight) ?? new Uint8Array(sizeOf(t.shape)).fill(1);

    // 4. Quantization: interval scan, quantization ADMM, progressive quantized retraining, final projection.
    const quantLayers = layers
      .filter(({ t }) => t.config.quantDtype !== undefined)
      .map(({ t }) => {
        const bits = bitsOfDtype(t.config.quantDtype!);
        const L = levelsPerSide(bits);
        const mask = maskOf(t);
        return { t, bits, L, mask, q: scanInterval(engine.read(t.weight), mask, L, INTERVAL_SCAN_FROM[o.intervalScan]).q };
      });
    let quantIterations: IterationRecord[] = [];
    const quant = new Map<string, { codes: Int32Array; q: number; bits: number }>();
    let valJoint = valPruned;
    if (quantLayers.length > 0) {
      const qTargets: AdmmTarget[] = quantLayers.map(({ t, L, mask, q }) => ({
        weight: t.weight,
        rho: t.config.quantRho ?? o.quantRho,
        project: (v) => projectQuant(v, mask, q, L),
      }));
      if (o.quantAdmmIterations > 0) {
        quantIterations = await engine.admm(
          qTargets,
          o.quantAdmmIterations,
          o.quantEpochsPerIteration,
          (_k, t) => t.rho,
          'admm-quant',
          iterationProgress('admm-quant', o.quantAdmmIterations),
          { mode: o.penalty, step: o.penaltyStep },
        );
      }
      const frozen = new Map<string, Uint8Array>(quantLayers.map(({ t, mask }) => [t.weight, new Uint8Array(mask.length)]));
      for (let round = 0; round < o.progressiveRounds; round++) {
        for (const { t, L, mask, q } of quantLayers) {
          const r = progressiveFreeze(engine.read(t.weight), mask, frozen.get(t.weight)!, q, L, o.progressiveFraction);
          frozen.set(t.weight, r.frozen);
          const keep = new Uint8Array(mask.length);
          for (let i = 0; i < keep.length; i++) keep[i] = mask[i] && !r.frozen[i] ? 1 : 0;
          engine.setMask(t.weight, keep, r.snapped);
        }
        const loss = await engine.fit(o.progressiveEpochs, 'progressive');
        const share =
          quantLayers.reduce((a, l) => a + [...frozen.get(l.t.weight)!].reduce((x, f) => x + f, 0), 0) /
          Math.max(
            1,
            quantLayers.reduce((a, l) => a + l.mask.reduce((x, f) => x + f, 0), 0),
          );
        progress({
          phase: 'progressive',
          epoch: round,
          epochs: o.progressiveRounds,
          loss,
          done: round === o.progressiveRounds - 1,
          frozenShare: share,
          valAccuracy: engine.evaluate().accuracy,
        });
      }
      for (const { t, bits, L, mask, q } of quantLayers) {
        const w = engine.read(t.weight);
        const z = projectQuant(w, mask, q, L);
        quant.set(t.weight, { codes: quantCodes(w, mask, q, L), q, bits });
        engine.setMask(t.weight, new Uint8Array(mask.length), z);
      }
      valJoint = engine.evaluate().accuracy;
    }

    // 5. Encodings: every untargeted weight is the same object; targeted layers get new kernels and biases.
    const weights: Record<string, Encoding> = { ...model.weights };
    const schemes = new Map<string, string>();
    for (const { t } of layers) {
      const values = engine.read(t.weight);
      const mask = maskOf(t);
      const { encoding, scheme } = encodeWeight(t.shape, mask, applyMask(values, mask), quant.get(t.weight));
      weights[t.weight] = encoding;
      schemes.set(t.weight, scheme);
      const bias = `${t.layer}/bias`;
      if (model.weights[bias]) weights[bias] = denseEncoding(model.weights[bias]!.shape, engine.read(bias));
    }
    const out: Model = { ir: model.ir, weights };
    const account = (withQuant: boolean) =>
      storageAccount(
        layers.map(({ t }) => ({
          layer: t.layer,
          elements: sizeOf(t.shape),
          mask: maskOf(t),
          bits: withQuant ? (quant.get(t.weight)?.bits ?? 32) : 32,
          quantized: withQuant && quant.has(t.weight),
          biasElements: model.weights[`${t.layer}/bias`] ? sizeOf(model.weights[`${t.layer}/bias`]!.shape) : 0,
        })),
      );
    const storage = account(true),
      prunedStorage = account(false);
    let files: AdmmReport['admm']['files'];
    if (o.measureFiles) {
      // The bytes of the files core's saveModel would write (model.json + shards + extension payload), serialized
      // in memory: no file system, so this entry stays browser-clean.
      const a = serializeModel(model).bytes;
      const b = serializeModel(out).bytes;
      files = { inputBytes: a, outputBytes: b, ratio: a / b };
    }
    const finalResidual = (name: string): number => {
      const last = pruneIterations[pruneIterations.length - 1];
      return last?.residual[name] ?? 0;
    };
    const rows = layers.map(({ t, w0 }, i) => {
      const q = quant.get(t.weight);
      const s = storage.layers[i]!;
      return layerReport(t.layer, t.weight, model.weights[t.weight]!, weights[t.weight]!, {
        sparseRatio: choices[i]!.sparseRatio,
        ratioSource: choices[i]!.source,
        keptFraction: s.nonZeros / s.elements,
        pruningRatio: s.elements / Math.max(1, s.nonZeros),
        primalResidual: finalResidual(t.weight),
        bits: q?.bits ?? 32,
        interval: q?.q,
        storedScheme: schemes.get(t.weight),
        indexFormat: s.indexFormat,
        relativeChange: relativeResidual(w0, toDense(weights[t.weight]!)),
        breakEvenRatio: choices[i]!.breakEvenRatio,
      });
    });
    const storedBits = rows.reduce((a, r) => a + r.after.storageBits, 0);
    const report: AdmmReport = {
      method: 'admm',
      layers: rows,
      metrics: {
        valAccuracyBefore: valDense,
        valAccuracyAfterAdmm: valAfterAdmm,
        valAccuracyHardPruned: valHardPruned,
        valAccuracyPruned: valPruned,
        valAccuracyAfter: valJoint,
        sparsity: 1 - storage.nonZeros / storage.elements,
        pruningRatio: storage.pruningRatio,
        dataOnlyRatio: storage.dataOnlyRatio,
        withIndicesRatio: storage.withIndicesRatio,
        prunedDataOnlyRatio: prunedStorage.dataOnlyRatio,
        prunedWithIndicesRatio: prunedStorage.withIndicesRatio,
        dataBits: storage.dataBits,
        indexBits: storage.indexBits,
        scaleBits: storage.scaleBits,
        biasBits: storage.biasBits,
        storedKernelBits: storedBits,
        ...(files ? { fileBytesInput: files.inputBytes, fileBytesOutput: files.outputBytes, fileBytesRatio: files.ratio } : {}),
      },
      warnings,
      admm: {
        choices,
        pruneIterations,
        quantIterations,
        storage,
        prunedStorage,
        files,
        validation: carved ? 'carved from train' : 'context',
        distill: o.distill ? { ...o.distill, teacher: (ctx as AdmmContext).teacher ? 'ctx.teacher' : 'input model' } : null,
        ...(dynamic ? { dynamicMask: dynamic } : {}),
        ...(averageFrom !== undefined ? { averagedEpochs: Math.max(0, fixedEpochs - averageFrom) } : {}),
        ...(auto ? { auto } : {}),
      },
    };
    if (quant.size > 0 && [...schemes.values()].some((s) => s.startsWith('symmetric'))) {
      warnings.push(
        "the files store the non-zero codes as symmetric with one extra bit (core has no quantized scheme 'nonzero' yet); dataBits counts the paper's bits per non-zero",
      );
    }
    return { model: out, report };
  } finally {
    engine.dispose();
  }
}
