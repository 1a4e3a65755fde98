import { CompressionError, didYouMeanHint } from '../errors.js';
import { DEFAULT_LEAKY_ALPHA, FUSED_ACTIVATIONS, isChain, layerInputs, MODEL_INPUT, type Activation, type Layer, type ModelIR, type Padding } from '../ir/types.js';
import { inferShapes } from '../ir/shapes.js';

/** Keras layer classes we read and write (tfjs-layers' Sequential topology, keras 2 and 3 spellings). */
export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer',
  'Conv2D',
  'Dense',
  'MaxPooling2D',
  'AveragePooling2D',
  'Flatten',
  'Activation',
  'BatchNormalization',
  'Dropout',
  'ReLU',
  'Softmax',
  'LeakyReLU',
  'ELU',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Reshape',
  'DepthwiseConv2D',
  'SeparableConv2D',
] as const;
const ALIASES: Record<string, string> = {
  MaxPool2D: 'MaxPooling2D',
  AvgPool2D: 'AveragePooling2D',
  Convolution2D: 'Conv2D',
  GlobalAvgPool2D: 'GlobalAveragePooling2D',
  GlobalMaxPool2D: 'GlobalMaxPooling2D',
};
/** Keras JSON spellings of activations whose tfjs name differs (tfjs-layers writes `hard_sigmoid` and reads both). */
const KERAS_ACTIVATION_NAMES: Record<string, Activation> = { hard_sigmoid: 'hardSigmoid' };
const kerasActivationName = (a: Activation): string => (a === 'hardSigmoid' ? 'hard_sigmoid' : a);

type Json = Record<string, unknown>;

const pair = (v: unknown, fallback?: [number, number]): [number, number] | undefined => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  return fallback;
};

/**
 * Reads a Keras Sequential topology (model.json `modelTopology`) into the IR. Errors name the file, the
 * layer index and name, and the field, with what was expected.
 */
export function topologyToIR(topology: unknown, file = 'model.json'): ModelIR {
  const fail = (path: string, message: string, hint?: string, code: 'BAD_MODEL_FILE' | 'UNSUPPORTED_LAYER' = 'BAD_MODEL_FILE', layer?: string): never => {
    throw new CompressionError({ code, path: `${file}: ${path}`, layer, message: `${file}: ${path}: ${message}`, hint });
  };
  if (!topology || typeof topology !== 'object')
    fail('modelTopology', 'is missing or not an object', 'a tfjs LayersModel model.json has "modelTopology": {"class_name": "Sequential", ...}');
  let top = topology as Json;
  // tfjs-converter's keras output nests {model_config: {...}}.
  if (top.model_config && typeof top.model_config === 'object') top = top.model_config as Json;
  const cls = top.class_name;
  const functional = cls === 'Model' || cls === 'Functional';
  if (cls !== 'Sequential' && !functional)
    fail('modelTopology.class_name', `'${String(cls)}' models are not supported, only 'Sequential' and functional ('Model' / 'Functional') ones`, undefined, 'UNSUPPORTED_LAYER');
  const config = top.config as Json | unknown[] | undefined;
  let layers = (Array.isArray(config) ? config : (config as Json | undefined)?.layers) as unknown[] | undefined;
  if (!Array.isArray(layers)) fail('modelTopology.config.layers', 'is missing or not an array');
  // A functional model (tf.model({inputs, outputs})): its layers in a topological order that ends at the output, each
  // with the layers it takes. A chain reads (and writes back) as a Sequential network; joins become add / concatenate
  // layers naming their inputs, and a layer after a fork names the one it takes.
  let inbound: Map<string, string[]> | undefined;
  if (functional) ({ order: layers, inbound } = graphOrder(config as Json, layers!, fail));
  const modelName = (!Array.isArray(config) && typeof config?.name === 'string' ? config.name : 'model') as string;
  let inputShape: number[] | undefined;
  const out: Layer[] = [];
  const aliases = new Map<string, string>();
  /** Keras layer name → the IR layer that holds its output (MODEL_INPUT for the InputLayer). */
  const outputOf = new Map<string, string>();
  const names = new Set(layers!.map((raw) => String(((raw as Json | null)?.config as Json | undefined)?.name ?? '')));
  const uniqueName = (base: string): string => {
    let n = base;
    for (let k = 2; names.has(n); k++) n = `${base}_${k}`;
    names.add(n);
    return n;
  };
  /** Per-example shape of an IR layer's output (or the model input), from the layers read so far. */
  const shapeOf = (path: string, name: string, source: string): number[] => {
    if (!inputShape) fail(path, `layer '${name}' comes before the model's input shape is known`, 'give the first layer an inputShape', 'BAD_MODEL_FILE', name);
    if (source === MODEL_INPUT) return [...inputShape!];
    const sh = inferShapes({ format: 'edge-compress/ir', version: 1, name: 'prefix', inputShape: inputShape!, layers: stripAxis({ layers: out } as ModelIR).layers });
    return sh.find((x) => x.layer.name === source)!.outputShape;
  };
  layers!.forEach((raw, i) => {
    const kerasName = String(((raw as Json | null)?.config as Json | undefined)?.name ?? '');
    // The IR layers this Keras layer reads: its inbound layers' outputs (functional), else the previous layer's.
    const previous = out.length ? out[out.length - 1]!.name : MODEL_INPUT;
    const srcs = inbound ? (inbound.get(kerasName) ?? []).map((n) => outputOf.get(n) ?? MODEL_INPUT) : [previous];
    const start = out.length;
    readLayer(raw, i, srcs.length ? srcs : [previous]);
    if (out.length > start) {
      const first = out[start]!;
      // Only where it reads something other than the previous layer (always so for a join): chains stay as they were.
      if (srcs.length !== 1 || srcs[0] !== previous) first.inputs = srcs;
      outputOf.set(kerasName, out[out.length - 1]!.name);
    } else outputOf.set(kerasName, MODEL_INPUT);
  });
  function readLayer(raw: unknown, i: number, srcs: string[]): void {
    const priorShape = (path: string, name: string): number[] => shapeOf(path, name, srcs[0]!);
    const path = `modelTopology.config.layers[${i}]`;
    if (!raw || typeof raw !== 'object') fail(path, 'is not an object');
    const l = raw as Json;
    const className = ALIASES[String(l.class_name)] ?? String(l.class_name);
    const c = (l.config ?? {}) as Json;
    const name = typeof c.name === 'string' ? c.name : `${className.toLowerCase()}_${i}`;
    const shapeField = c.batch_input_shape ?? c.batch_shape ?? c.batchInputShape;
    if (inputShape === undefined && Array.isArray(shapeField)) inputShape = (shapeField as unknown[]).slice(1) as number[];
    if (inputShape === undefined && Array.isArray(c.input_shape)) inputShape = c.input_shape as number[];
    const act = (field: string, v: unknown): Activation => {
      const raw = v === undefined || v === null ? 'linear' : typeof v === 'string' ? v : typeof v === 'object' ? String((v as Json).class_name ?? (v as Json).config) : String(v);
      const a = KERAS_ACTIVATION_NAMES[raw] ?? raw;
      if (!(FUSED_ACTIVATIONS as readonly string[]).includes(a))
        fail(`${path}.config.${field}`, `activation '${raw}' of layer '${name}' is not supported`, `supported: ${FUSED_ACTIVATIONS.join(', ')}`, 'UNSUPPORTED_LAYER', name);
      return a as Activation;
    };
    const channelsLast = (): void => {
      if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') {
        fail(
          `${path}.config.data_format`,
          `layer '${name}' uses '${String(c.data_format)}'; only 'channels_last' (NHWC) is supported`,
          'save the model with data_format channels_last (the tfjs default)',
          'UNSUPPORTED_LAYER',
          name,
        );
      }
    };
    const padding = (): Padding => {
      const p = c.padding ?? 'valid';
      if (p !== 'valid' && p !== 'same')
        fail(`${path}.config.padding`, `padding '${String(p)}' of layer '${name}' is not supported`, "use 'valid' or 'same'", 'UNSUPPORTED_LAYER', name);
      return p as Padding;
    };
    switch (className) {
      case 'InputLayer':
        return;
      case 'Conv2D': {
        channelsLast();
        const d = pair(c.dilation_rate, [1, 1])!;
        if (d[0] !== 1 || d[1] !== 1) fail(`${path}.config.dilation_rate`, `layer '${name}' has dilation [${d}]; only 1 is supported`, undefined, 'UNSUPPORTED_LAYER', name);
        if (c.groups !== undefined && c.groups !== 1)
          fail(`${path}.config.groups`, `layer '${name}' is a grouped convolution (groups ${String(c.groups)}); not supported`, undefined, 'UNSUPPORTED_LAYER', name);
        const filters = c.filters;
        const kernelSize = pair(c.kernel_size);
        if (!Number.isInteger(filters) || (filters as number) <= 0)
          fail(`${path}.config.filters`, `expected a positive integer, got ${JSON.stringify(filters)}`, undefined, 'BAD_MODEL_FILE', name);
        if (!kernelSize) fail(`${path}.config.kernel_size`, `expected an integer or [h, w], got ${JSON.stringify(c.kernel_size)}`, undefined, 'BAD_MODEL_FILE', name);
        out.push({
          kind: 'conv2d',
          name,
          filters: filters as number,
          kernelSize: kernelSize!,
          strides: pair(c.strides, [1, 1])!,
          padding: padding(),
          activation: act('activation', c.activation),
          useBias: c.use_bias !== false,
        });
        return;
      }
      case 'DepthwiseConv2D':
      case 'SeparableConv2D': {
        channelsLast();
        const d = pair(c.dilation_rate, [1, 1])!;
        if (d[0] !== 1 || d[1] !== 1) fail(`${path}.config.dilation_rate`, `layer '${name}' has dilation [${d}]; only 1 is supported`, undefined, 'UNSUPPORTED_LAYER', name);
        const kernelSize = pair(c.kernel_size);
        if (!kernelSize) fail(`${path}.config.kernel_size`, `expected an integer or [h, w], got ${JSON.stringify(c.kernel_size)}`, undefined, 'BAD_MODEL_FILE', name);
        const depthMultiplier = c.depth_multiplier ?? 1;
        if (!Number.isInteger(depthMultiplier) || (depthMultiplier as number) <= 0)
          fail(`${path}.config.depth_multiplier`, `expected a positive integer, got ${JSON.stringify(c.depth_multiplier)}`, undefined, 'BAD_MODEL_FILE', name);
        const depthwise = {
          kind: 'depthwiseConv2d' as const,
          kernelSize: kernelSize!,
          strides: pair(c.strides, [1, 1])!,
          padding: padding(),
          depthMultiplier: depthMultiplier as number,
        };
        if (className === 'DepthwiseConv2D') {
          out.push({ ...depthwise, name, activation: act('activation', c.activation), useBias: c.use_bias !== false });
          return;
        }
        // SeparableConv2D = a depthwise conv (no bias, linear) + a 1×1 conv with the bias and the activation. The 1×1
        // conv keeps the layer's name (it holds most weights and is what a recipe naming the layer should compress);
        // the weights keep their manifest names through `manifestAliases`.
        const filters = c.filters;
        if (!Number.isInteger(filters) || (filters as number) <= 0)
          fail(`${path}.config.filters`, `expected a positive integer, got ${JSON.stringify(filters)}`, undefined, 'BAD_MODEL_FILE', name);
        const dwName = uniqueName(`${name}_depthwise`);
        out.push({ ...depthwise, name: dwName, activation: 'linear', useBias: false });
        out.push({
          kind: 'conv2d',
          name,
          filters: filters as number,
          kernelSize: [1, 1],
          strides: [1, 1],
          padding: 'valid',
          activation: act('activation', c.activation),
          useBias: c.use_bias !== false,
        });
        aliases.set(`${dwName}/depthwise_kernel`, `${name}/depthwise_kernel`);
        aliases.set(`${name}/kernel`, `${name}/pointwise_kernel`);
        return;
      }
      case 'Dense': {
        const units = c.units;
        if (!Number.isInteger(units) || (units as number) <= 0)
          fail(`${path}.config.units`, `expected a positive integer, got ${JSON.stringify(units)}`, undefined, 'BAD_MODEL_FILE', name);
        out.push({ kind: 'dense', name, units: units as number, activation: act('activation', c.activation), useBias: c.use_bias !== false });
        return;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        channelsLast();
        const poolSize = pair(c.pool_size, [2, 2])!;
        out.push({ kind: className === 'MaxPooling2D' ? 'maxPool2d' : 'avgPool2d', name, poolSize, strides: pair(c.strides, poolSize)!, padding: padding() });
        return;
      }
      case 'Flatten':
        channelsLast();
        out.push({ kind: 'flatten', name });
        return;
      case 'Activation':
        out.push({ kind: 'activation', name, activation: act('activation', c.activation) });
        return;
      case 'ReLU': {
        const maxValue = c.max_value ?? null;
        if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0)
          fail(
            `${path}.config`,
            `ReLU layer '${name}' with negative_slope/threshold is not supported (stock tfjs-layers has neither)`,
            'use a LeakyReLU layer for a negative slope',
            'UNSUPPORTED_LAYER',
            name,
          );
        if (maxValue !== null && !(typeof maxValue === 'number' && maxValue > 0))
          fail(`${path}.config.max_value`, `expected a positive number or null, got ${JSON.stringify(maxValue)}`, undefined, 'BAD_MODEL_FILE', name);
        out.push(maxValue === null ? { kind: 'activation', name, activation: 'relu' } : { kind: 'activation', name, activation: 'relu', maxValue: maxValue as number });
        return;
      }
      case 'LeakyReLU': {
        // keras 2 / tfjs: alpha; keras 3: negative_slope.
        const alpha = c.alpha ?? c.negative_slope ?? DEFAULT_LEAKY_ALPHA;
        if (typeof alpha !== 'number' || !Number.isFinite(alpha))
          fail(`${path}.config.alpha`, `expected a number, got ${JSON.stringify(alpha)}`, undefined, 'BAD_MODEL_FILE', name);
        out.push({ kind: 'activation', name, activation: 'leakyRelu', alpha: alpha as number });
        return;
      }
      case 'ELU':
        if ((c.alpha ?? 1) !== 1)
          fail(
            `${path}.config.alpha`,
            `ELU layer '${name}' has alpha ${JSON.stringify(c.alpha)}; only 1 is supported (as in stock tfjs-layers)`,
            undefined,
            'UNSUPPORTED_LAYER',
            name,
          );
        out.push({ kind: 'activation', name, activation: 'elu' });
        return;
      case 'Softmax':
        out.push({ kind: 'activation', name, activation: 'softmax' });
        return;
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        // Read as a pool over the whole feature map (+ a flatten unless keepdims): the same numbers, and every
        // method, cost model and exporter already handles both. Written back in that form.
        channelsLast();
        const at = priorShape(path, name);
        if (at.length !== 3) fail(path, `layer '${name}' (${className}) needs a rank-3 [h, w, c] input, got [${at.join(', ')}]`, undefined, 'BAD_MODEL_FILE', name);
        const window: [number, number] = [at[0]!, at[1]!];
        out.push({ kind: className === 'GlobalMaxPooling2D' ? 'maxPool2d' : 'avgPool2d', name, poolSize: window, strides: window, padding: 'valid' });
        if (c.keepdims !== true) out.push({ kind: 'flatten', name: uniqueName(`${name}_flatten`) });
        return;
      }
      case 'Reshape': {
        const target = c.target_shape ?? c.targetShape;
        const at = priorShape(path, name);
        const n = at.reduce((a, b) => a * b, 1);
        const flat = Array.isArray(target) && target.length === 1 && (target[0] === n || target[0] === -1);
        if (!flat)
          fail(
            `${path}.config.target_shape`,
            `Reshape layer '${name}' to ${JSON.stringify(target)} is not supported; only a reshape to one dimension ([${n}] or [-1]), read as a Flatten`,
            'reshape to a flat vector, or give the model that input shape directly',
            'UNSUPPORTED_LAYER',
            name,
          );
        out.push({ kind: 'flatten', name });
        return;
      }
      case 'BatchNormalization': {
        const axis = Array.isArray(c.axis) ? (c.axis as number[])[0] : ((c.axis as number | undefined) ?? -1);
        out.push({
          kind: 'batchNorm',
          name,
          epsilon: typeof c.epsilon === 'number' ? c.epsilon : 1e-3,
          momentum: typeof c.momentum === 'number' ? c.momentum : 0.99,
          center: c.center !== false,
          scale: c.scale !== false,
        });
        (out[out.length - 1] as Layer & { axisRaw?: number }).axisRaw = axis;
        return;
      }
      case 'Dropout':
        out.push({ kind: 'dropout', name, rate: typeof c.rate === 'number' ? c.rate : 0 });
        return;
      case 'ZeroPadding2D': {
        channelsLast();
        // Keras: an int (all sides), [rows, cols] (symmetric), or [[top, bottom], [left, right]].
        const p = c.padding ?? 1;
        const nonNeg = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
        let padding: [[number, number], [number, number]] | undefined;
        if (nonNeg(p))
          padding = [
            [p, p],
            [p, p],
          ];
        else if (Array.isArray(p) && p.length === 2 && p.every(nonNeg)) {
          const [rows, cols] = p as [number, number];
          padding = [
            [rows, rows],
            [cols, cols],
          ];
        } else if (Array.isArray(p) && p.length === 2 && p.every((q) => Array.isArray(q) && q.length === 2 && q.every(nonNeg))) {
          const [[t, b], [left, r]] = p as [[number, number], [number, number]];
          padding = [
            [t, b],
            [left, r],
          ];
        }
        if (!padding)
          fail(
            `${path}.config.padding`,
            `expected an integer, [rows, cols] or [[top, bottom], [left, right]] of integers ≥ 0, got ${JSON.stringify(p)}`,
            undefined,
            'BAD_MODEL_FILE',
            name,
          );
        out.push({ kind: 'zeroPad2d', name, padding: padding! });
        return;
      }
      case 'Add':
      case 'Concatenate': {
        if (!inbound) fail(path, `${className} layer '${name}' in a Sequential model has nothing to join`, 'merges belong to functional models (tf.model)', 'BAD_MODEL_FILE', name);
        if (srcs.length < 2) fail(path, `${className} layer '${name}' joins ${srcs.length} tensor(s); expected two or more`, undefined, 'BAD_MODEL_FILE', name);
        if (className === 'Concatenate') {
          const rank = priorShape(path, name).length + 1;
          const axis = c.axis ?? -1;
          if (axis !== -1 && axis !== rank - 1)
            fail(
              `${path}.config.axis`,
              `Concatenate layer '${name}' joins along axis ${JSON.stringify(axis)}; only the last (channel) axis is supported`,
              undefined,
              'UNSUPPORTED_LAYER',
              name,
            );
        }
        out.push({ kind: className === 'Add' ? 'add' : 'concatenate', name, inputs: srcs });
        return;
      }
      default:
        fail(
          `${path}.class_name`,
          `layer '${name}' has unsupported class '${String(l.class_name)}'`,
          didYouMeanHint(String(l.class_name), SUPPORTED_KERAS_LAYERS),
          'UNSUPPORTED_LAYER',
          name,
        );
    }
  }
  if (!inputShape || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    fail(
      'modelTopology.config.layers[0].config.batch_input_shape',
      `the input shape is missing or not fully defined (${JSON.stringify(inputShape ?? null)})`,
      'build the model with an inputShape on its first layer, e.g. {inputShape: [28, 28, 1]}',
    );
  }
  const ir: ModelIR = { format: 'edge-compress/ir', version: 1, name: modelName, inputShape: inputShape!, layers: out };
  // Batch-norm axis must be the channel (last) axis.
  const shapes = inferShapes(stripAxis(ir));
  out.forEach((l, i) => {
    const raw = (l as Layer & { axisRaw?: number }).axisRaw;
    if (raw === undefined) return;
    const rank = shapes[i]!.inputShape.length + 1;
    if (raw !== -1 && raw !== rank - 1)
      fail(`layers '${l.name}'.config.axis`, `batch normalization over axis ${raw} is not supported; only the last (channel) axis`, undefined, 'UNSUPPORTED_LAYER', l.name);
  });
  const result = stripAxis(ir);
  if (aliases.size) manifestAliases.set(result, aliases);
  return result;
}

/**
 * IR weight name → weights-manifest name, for layers the reader split (SeparableConv2D's depthwise and pointwise
 * kernels), keyed by the IR `topologyToIR` returned.
 */
export const manifestAliases = new WeakMap<ModelIR, ReadonlyMap<string, string>>();

/**
 * The layers of a functional topology in a topological order that ends at the output (each with its `config.name`
 * set), and the layers each one takes. Fails on several inputs or outputs, a shared layer (called twice), a cycle,
 * or a layer that does not lead to the output. Reads tfjs / Keras 2 `inbound_nodes` ([[[name, node, tensor, kwargs],
 * …]]) and Keras 3's ({args: [{config: {keras_history: [name, node, tensor]}}]}).
 */
function graphOrder(
  config: Json,
  layers: unknown[],
  fail: (path: string, message: string, hint?: string, code?: 'BAD_MODEL_FILE' | 'UNSUPPORTED_LAYER', layer?: string) => never,
): { order: unknown[]; inbound: Map<string, string[]> } {
  const hint = 'supported: one input and one output, each layer called once; joins by Add or Concatenate';
  const byName = new Map<string, Json>();
  layers.forEach((raw, i) => {
    const l = (raw ?? {}) as Json;
    const c = (l.config ?? {}) as Json;
    const name = typeof l.name === 'string' ? l.name : typeof c.name === 'string' ? c.name : undefined;
    if (name === undefined) fail(`modelTopology.config.layers[${i}].name`, 'is missing (a functional model names every layer)');
    byName.set(name!, { ...l, config: { ...c, name } });
  });
  const inboundOf = (l: Json, name: string): string[] => {
    const nodes = (l.inbound_nodes ?? []) as unknown[];
    if (nodes.length > 1) fail(`layer '${name}'`, `layer '${name}' is called ${nodes.length} times (a shared layer)`, hint, 'UNSUPPORTED_LAYER', name);
    const found: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) {
        if (typeof v[0] === 'string' && typeof v[1] === 'number') found.push(v[0]);
        else v.forEach(walk);
      } else if (v && typeof v === 'object') {
        const history = ((v as Json).config as Json | undefined)?.keras_history;
        if (Array.isArray(history)) found.push(String(history[0]));
        else Object.values(v).forEach(walk);
      }
    };
    walk(nodes[0]);
    return found;
  };
  const ends = (key: string): string[] => {
    const v = config[key];
    const list = Array.isArray(v) ? (Array.isArray(v[0]) ? (v as unknown[][]) : [v as unknown[]]) : [];
    return list.map((e) => String(e[0]));
  };
  const [inputs, outputs] = [ends('input_layers'), ends('output_layers')];
  if (inputs.length !== 1 || outputs.length !== 1)
    fail('modelTopology.config.input_layers', `the model has ${inputs.length} inputs and ${outputs.length} outputs; only one of each is supported`, hint, 'UNSUPPORTED_LAYER');
  const inbound = new Map<string, string[]>();
  for (const [name, l] of byName) {
    const from = inboundOf(l, name);
    for (const f of from) if (!byName.has(f)) fail(`layer '${name}'`, `layer '${name}' takes '${f}', which the model does not define`, undefined, 'BAD_MODEL_FILE', name);
    if (from.length === 0 && name !== inputs[0])
      fail(`layer '${name}'`, `layer '${name}' takes no input and is not the model input '${inputs[0]}'`, hint, 'UNSUPPORTED_LAYER', name);
    inbound.set(name, from);
  }
  // Depth-first from the output, inputs before the layer: a topological order ending at the output.
  const order: unknown[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string): void => {
    const st = state.get(name);
    if (st === 'done') return;
    if (st === 'open') fail(`layer '${name}'`, `the graph has a cycle through layer '${name}'`, undefined, 'BAD_MODEL_FILE', name);
    if (!byName.has(name)) fail('modelTopology.config', `the graph names a layer '${name}' it does not define`);
    state.set(name, 'open');
    for (const f of inbound.get(name)!) visit(f);
    state.set(name, 'done');
    order.push(byName.get(name));
  };
  visit(outputs[0]!);
  if (order[0] !== byName.get(inputs[0]!))
    fail('modelTopology.config.input_layers', `the output '${outputs[0]}' does not depend on the input '${inputs[0]}'`, hint, 'BAD_MODEL_FILE');
  if (order.length !== byName.size) {
    const off = [...byName.keys()].filter((n) => !state.has(n));
    fail('modelTopology.config.layers', `layers ${off.map((n) => `'${n}'`).join(', ')} do not lead to the output '${outputs[0]}'`, hint, 'UNSUPPORTED_LAYER', off[0]);
  }
  return { order, inbound };
}

function stripAxis(ir: ModelIR): ModelIR {
  return {
    ...ir,
    layers: ir.layers.map((l) => {
      const { axisRaw: _a, ...rest } = l as Layer & { axisRaw?: number };
      return rest as Layer;
    }),
  };
}

/** The Keras config keys a stock Conv2D / Dense layer carries beyond its shape: He-normal init, no regularizers or constraints. */
const KERNEL_LAYER_DEFAULTS = {
  kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'truncated_normal', seed: null } },
  bias_initializer: { class_name: 'Zeros', config: {} },
  kernel_regularizer: null,
  bias_regularizer: null,
  activity_regularizer: null,
  kernel_constraint: null,
  bias_constraint: null,
} as const;

/**
 * Writes the IR as the Keras topology tfjs-layers 4.x saves (and loads): Sequential for a chain, else a functional
 * 'Model' with an InputLayer and each layer's `inbound_nodes`.
 */
export function irToTopology(ir: ModelIR, version: string): Json {
  const chain = isChain(ir);
  const layers: Json[] = ir.layers.map((l, i) => {
    const base: Json = { name: l.name, trainable: true, dtype: 'float32' };
    if (i === 0 && chain) base.batch_input_shape = [null, ...ir.inputShape];
    switch (l.kind) {
      case 'conv2d':
        return {
          class_name: 'Conv2D',
          config: {
            ...base,
            filters: l.filters,
            kernel_size: l.kernelSize,
            strides: l.strides,
            padding: l.padding,
            data_format: 'channels_last',
            dilation_rate: [1, 1],
            activation: kerasActivationName(l.activation),
            use_bias: l.useBias,
            ...KERNEL_LAYER_DEFAULTS,
          },
        };
      case 'depthwiseConv2d':
        return {
          class_name: 'DepthwiseConv2D',
          config: {
            ...base,
            kernel_size: l.kernelSize,
            strides: l.strides,
            padding: l.padding,
            data_format: 'channels_last',
            dilation_rate: [1, 1],
            depth_multiplier: l.depthMultiplier,
            activation: kerasActivationName(l.activation),
            use_bias: l.useBias,
            depthwise_initializer: KERNEL_LAYER_DEFAULTS.kernel_initializer,
            depthwise_regularizer: null,
            depthwise_constraint: null,
            bias_initializer: KERNEL_LAYER_DEFAULTS.bias_initializer,
            bias_regularizer: null,
            activity_regularizer: null,
            bias_constraint: null,
          },
        };
      case 'dense':
        return {
          class_name: 'Dense',
          config: {
            ...base,
            units: l.units,
            activation: kerasActivationName(l.activation),
            use_bias: l.useBias,
            ...KERNEL_LAYER_DEFAULTS,
          },
        };
      case 'maxPool2d':
      case 'avgPool2d':
        return {
          class_name: l.kind === 'maxPool2d' ? 'MaxPooling2D' : 'AveragePooling2D',
          config: { ...base, pool_size: l.poolSize, strides: l.strides, padding: l.padding, data_format: 'channels_last' },
        };
      case 'flatten':
        return { class_name: 'Flatten', config: { ...base, data_format: 'channels_last' } };
      case 'activation':
        if (l.activation === 'leakyRelu') return { class_name: 'LeakyReLU', config: { ...base, alpha: l.alpha ?? DEFAULT_LEAKY_ALPHA } };
        if (l.activation === 'relu' && l.maxValue !== undefined) return { class_name: 'ReLU', config: { ...base, max_value: l.maxValue } };
        return { class_name: 'Activation', config: { ...base, activation: kerasActivationName(l.activation) } };
      case 'batchNorm':
        return {
          class_name: 'BatchNormalization',
          config: {
            ...base,
            axis: -1,
            momentum: l.momentum,
            epsilon: l.epsilon,
            center: l.center,
            scale: l.scale,
            beta_initializer: { class_name: 'Zeros', config: {} },
            gamma_initializer: { class_name: 'Ones', config: {} },
            moving_mean_initializer: { class_name: 'Zeros', config: {} },
            moving_variance_initializer: { class_name: 'Ones', config: {} },
            beta_regularizer: null,
            gamma_regularizer: null,
            beta_constraint: null,
            gamma_constraint: null,
          },
        };
      case 'dropout':
        return { class_name: 'Dropout', config: { ...base, rate: l.rate, noise_shape: null, seed: null } };
      case 'zeroPad2d':
        return { class_name: 'ZeroPadding2D', config: { ...base, padding: l.padding, data_format: 'channels_last' } };
      case 'add':
        return { class_name: 'Add', config: base };
      case 'concatenate':
        return { class_name: 'Concatenate', config: { ...base, axis: -1 } };
    }
  });
  const meta = { keras_version: `tfjs-layers 4.22.0`, backend: 'tensor_flow.js', generated_by: version };
  if (chain) return { class_name: 'Sequential', config: { name: ir.name, layers }, ...meta };
  const taken = new Set(ir.layers.map((l) => l.name));
  let input = 'input_1';
  for (let k = 2; taken.has(input); k++) input = `input_${k}`;
  const node = (names: string[]) => [names.map((n) => [n === MODEL_INPUT ? input : n, 0, 0, {}])];
  return {
    class_name: 'Model',
    config: {
      name: ir.name,
      layers: [
        { class_name: 'InputLayer', name: input, config: { batch_input_shape: [null, ...ir.inputShape], dtype: 'float32', sparse: false, name: input }, inbound_nodes: [] },
        ...layers.map((j, i) => ({ ...j, name: ir.layers[i]!.name, inbound_nodes: node(layerInputs(ir, i)) })),
      ],
      input_layers: [[input, 0, 0]],
      output_layers: [[ir.layers[ir.layers.length - 1]!.name, 0, 0]],
    },
    ...meta,
  };
}
