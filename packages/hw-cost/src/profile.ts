/**
 * Device profiles are data (HWCOST §3.5): JSON files validated by a zod schema, where every number carries
 * its unit, source and provenance tag. A missing field, a negative number or a number without a source is
 * a typed BAD_CONFIG error naming the file and the field.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CompressionError, didYouMeanHint } from '@edge-compress/core';
import { z } from 'zod';
import { PATTERNS } from './features.js';

/**
 * Provenance tags (HWCOST): M measured and published, V vendor/spec sheet, D derived by arithmetic from cited
 * numbers, E engineering estimate, P measured by this project / on this machine, U recalled and not re-verified
 * (listed by `uncertainValues`), T third-party site.
 */
export const TAGS = ['M', 'V', 'D', 'E', 'P', 'U', 'T'] as const;
export type Tag = (typeof TAGS)[number];

export const num = z.strictObject({
  value: z.number().finite().nonnegative(),
  unit: z.string().min(1),
  src: z.string().min(1),
  tag: z.enum(TAGS),
});
export type Num = z.infer<typeof num>;

/** Compute precisions, widest first, with their bit widths. */
export const PRECISIONS = { fp32: 32, fp16: 16, int16: 16, int8: 8, int4: 4, int2: 2, int1: 1 } as const;
export type Precision = keyof typeof PRECISIONS;
const precisionMap = z.strictObject({
  fp32: num.optional(),
  fp16: num.optional(),
  int16: num.optional(),
  int8: num.optional(),
  int4: num.optional(),
  int2: num.optional(),
  int1: num.optional(),
});

const patternEntry = z.strictObject({
  /** The device runs the structure natively: it executes macsEff (non-zeros or factor MACs), not the dense MACs. */
  skipsZeros: z.boolean(),
  /** Slowdown per executed MAC of the format on this device (≥ 1 for sparse formats, HWCOST §3.2). */
  kpat: num,
});

const powerTime = z.strictObject({ mode: z.literal('powerTime'), activeW: num, idleW: num });
const perAction = z.strictObject({
  mode: z.literal('perAction'),
  macPj: precisionMap,
  dramPjPerByte: num,
  sramPjPerByte: num,
  staticW: num,
});

export const KINDS = ['mcu', 'mobile-cpu', 'mobile-gpu', 'fpga', 'accelerator', 'local-wasm'] as const;

export const profileSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  name: z.string().min(1),
  kind: z.enum(KINDS),
  description: z.string().optional(),
  /** Peak throughput per precision in OP/s (2 OP per MAC). At least one precision. */
  peakOps: precisionMap.refine((m) => Object.values(m).some(Boolean), { message: 'needs at least one precision (fp32, fp16, int16, int8, int4, int2, int1)' }),
  /** Fraction of peak a well-shaped conv / matmul reaches (0–1]. */
  computeEfficiency: num,
  dramBandwidth: num,
  /** Fraction of DRAM bandwidth reached (0–1]. */
  memoryEfficiency: num,
  onChipBytes: num,
  /** SIMD / PE-array width the output channels are padded to (ceil alignment; HWCOST §3.2 ηutil). */
  simdWidth: num,
  layerOverheadS: num,
  inferenceOverheadS: num,
  /** True when the runtime expands stored weights to its compute precision at load (tfjs-wasm does: tfjs#6551). */
  dequantizesWeights: z.boolean(),
  /** RAM / flash that must hold weights + activations (MCU), if limited. */
  memoryBytes: num.optional(),
  energy: z.discriminatedUnion('mode', [powerTime, perAction]),
  patterns: z.strictObject(Object.fromEntries(PATTERNS.map((p) => [p, patternEntry])) as Record<(typeof PATTERNS)[number], typeof patternEntry>),
});
export type DeviceProfile = z.infer<typeof profileSchema>;

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '') || '(root)'
  );
}

/** Validates one parsed profile; `file` names it in errors. */
export function parseProfile(raw: unknown, file: string): DeviceProfile {
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = fieldPath(issue.path);
    let got: unknown = raw;
    for (const k of issue.path) got = got && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
    const what =
      issue.code === 'invalid_type' && got === undefined
        ? `is missing (${issue.message})`
        : issue.code === 'too_small'
          ? `must be ≥ 0, got ${JSON.stringify(got)}`
          : `${issue.message}${got !== undefined && typeof got !== 'object' ? ` (got ${JSON.stringify(got)})` : ''}`;
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: `${file}: ${field}`,
      message: `device profile ${file}: field '${field}' ${what}`,
      hint: 'every number is {"value": n ≥ 0, "unit": "…", "src": "where it comes from", "tag": "M|V|D|E|P|U|T"}; see packages/hw-cost/profiles/ for complete examples',
    });
  }
  for (const k of ['computeEfficiency', 'memoryEfficiency'] as const) {
    const v = r.data[k].value;
    if (v <= 0 || v > 1)
      throw new CompressionError({ code: 'BAD_CONFIG', path: `${file}: ${k}.value`, message: `device profile ${file}: field '${k}.value' must be in (0, 1], got ${v}` });
  }
  return r.data;
}

export async function loadProfileFile(path: string): Promise<DeviceProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CompressionError({ code: 'BAD_CONFIG', path, message: `cannot read device profile ${path}`, hint: 'check the path', cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new CompressionError({ code: 'BAD_CONFIG', path, message: `device profile ${path} is not valid JSON (${(cause as Error).message})`, cause });
  }
  return parseProfile(raw, path);
}

/** Every `*.json` profile in a directory (sorted by file name). */
export async function loadProfileDir(dir: string): Promise<DeviceProfile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (cause) {
    throw new CompressionError({ code: 'BAD_CONFIG', path: dir, message: `cannot read the device profile directory ${dir}`, cause });
  }
  return Promise.all(names.map((n) => loadProfileFile(join(dir, n))));
}

/** Merges profile lists (later ones replace earlier ones with the same id) and checks ids are unique per list. */
export function mergeProfiles(...lists: DeviceProfile[][]): DeviceProfile[] {
  const m = new Map<string, DeviceProfile>();
  for (const l of lists) for (const p of l) m.set(p.id, p);
  return [...m.values()];
}

export function findProfile(profiles: readonly DeviceProfile[], id: string): DeviceProfile {
  const p = profiles.find((x) => x.id === id);
  if (!p) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'device',
      message: `unknown device '${id}'`,
      hint: didYouMeanHint(
        id,
        profiles.map((x) => x.id),
      ),
    });
  }
  return p;
}

/** Every [U] (recalled, unverified) or TODO-sourced value of a profile, as "field: value unit (src)". */
export function uncertainValues(p: DeviceProfile): string[] {
  const out: string[] = [];
  const walk = (o: unknown, path: string) => {
    if (!o || typeof o !== 'object') return;
    const n = o as Partial<Num>;
    if (typeof n.value === 'number' && typeof n.tag === 'string') {
      if (n.tag === 'U' || /todo/i.test(n.src ?? '')) out.push(`${path}: ${n.value} ${n.unit} (${n.src})`);
      return;
    }
    for (const [k, v] of Object.entries(o)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(p, '');
  return out;
}

/** The precision a layer with `wBits`-bit weights runs at: the narrowest available one that holds them, else the widest. */
export function computePrecision(p: DeviceProfile, wBits: number): Precision {
  const avail = (Object.keys(PRECISIONS) as Precision[]).filter((k) => p.peakOps[k]);
  const fits = avail.filter((k) => PRECISIONS[k] >= wBits).sort((a, b) => PRECISIONS[a] - PRECISIONS[b]);
  if (fits.length) return fits[0]!;
  return avail.sort((a, b) => PRECISIONS[b] - PRECISIONS[a])[0]!;
}
