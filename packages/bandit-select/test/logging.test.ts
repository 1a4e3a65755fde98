import { describe, expect, it } from 'vitest';
import { formatJsonl, formatVwAdf, type LoggedExample, parseJsonl, parseLog, parseVwAdf } from '../src/index.js';

const ex: LoggedExample = {
  t: 7,
  context: { cores: 4, ghz: 2.4, ram: 6, simd: 1, acc_gpu: 1 },
  arms: [
    { id: 'lenet5_fp32', features: { acc: 0.993, lbytes: 14.4, bits: 32, lat: 1.2 } },
    { id: 'lenet5_admm86', features: { acc: 0.991, lbytes: 8.9, bits: 3, lat: 0.41 } },
    { id: 'lenet5_int8', features: { acc: 0.992, lbytes: 12.7, bits: 8, lat: 0.63 } },
  ],
  chosen: 1,
  probability: 0.85,
  probs: [0.075, 0.85, 0.075],
  reward: 0.82,
  policy: 'linucb',
};

const GOLDEN =
  'shared |Device cores:4 ghz:2.4 ram:6 simd:1 acc_gpu:1\n' +
  '|Arm lenet5_fp32 |Model acc:0.993 lbytes:14.4 bits:32 lat:1.2\n' +
  '0:0.18000000000000005:0.85 |Arm lenet5_admm86 |Model acc:0.991 lbytes:8.9 bits:3 lat:0.41\n' +
  '|Arm lenet5_int8 |Model acc:0.992 lbytes:12.7 bits:8 lat:0.63\n' +
  '\n';

describe('VW cb_adf log', () => {
  it('matches the golden text exactly (shared line, one line per action, 0:cost:prob on the chosen one, blank line)', () => {
    expect(formatVwAdf(ex)).toBe(GOLDEN);
  });

  it('round-trips through the parser', () => {
    const text = formatVwAdf(ex) + formatVwAdf({ ...ex, chosen: 0, probability: 0.1, reward: 0 });
    const back = parseVwAdf(text);
    expect(back).toHaveLength(2);
    expect(back[0]!.context).toEqual(ex.context);
    expect(back[0]!.arms).toEqual(ex.arms);
    expect(back[0]!.chosen).toBe(1);
    expect(back[0]!.probability).toBe(0.85);
    expect(back[0]!.reward).toBeCloseTo(0.82, 12);
    expect(back[1]!.chosen).toBe(0);
    expect(back[1]!.reward).toBe(1 - 1);
    expect(parseLog(text)).toEqual(back);
  });

  it('keeps an arm id equal to a feature name apart from that feature (own Arm namespace)', () => {
    const clash: LoggedExample = {
      context: { x: 1 },
      arms: [
        { id: 'acc', features: { acc: 0.5 } },
        { id: 'b', features: { acc: 0.7 } },
      ],
      chosen: 0,
      probability: 0.5,
      reward: 1,
    };
    const text = formatVwAdf(clash);
    expect(text).toContain('|Arm acc |Model acc:0.5\n');
    expect(parseVwAdf(text)[0]!.arms).toEqual(clash.arms);
  });

  it('still reads logs written before the Arm namespace', () => {
    const old = 'shared |Device a:1\n|Model m1 f:1\n0:0.25:0.5 |Model m2 f:2\n\n';
    const [e] = parseVwAdf(old);
    expect(e!.arms).toEqual([
      { id: 'm1', features: { f: 1 } },
      { id: 'm2', features: { f: 2 } },
    ]);
    expect(e!.chosen).toBe(1);
    expect(e!.reward).toBe(0.75);
  });

  it('omits the label when no reward is known', () => {
    const { reward: _r, ...noReward } = ex;
    expect(formatVwAdf(noReward)).not.toMatch(/^0:/m);
  });

  it('reports the line of a malformed example', () => {
    expect(() => parseVwAdf('shared |Device a:1\n0:x:0.5 |Arm m |Model a:1\n\n', 'f.vw')).toThrow(/f\.vw:2: bad label "0:x:0.5"/);
    expect(() => parseVwAdf('shared |Device a:1\n|Arm m |Model a:zz\n\n', 'f.vw')).toThrow(expect.objectContaining({ code: 'BAD_LOG' }));
    expect(() => parseVwAdf('shared |Device a:1\n|Arm m n |Model a:1\n\n', 'f.vw')).toThrow(expect.objectContaining({ code: 'BAD_LOG' }));
  });
});

describe('JSONL twin', () => {
  it('has the documented fields and round-trips', () => {
    const line = formatJsonl(ex);
    const obj = JSON.parse(line);
    expect(Object.keys(obj)).toEqual(['t', 'eventId', 'deviceId', 'userId', 'x_d', 'arms', 'chosen', 'probs', 'probability', 'reward', 'policyId']);
    expect(obj.arms[1]).toEqual({ id: 'lenet5_admm86', z: ex.arms[1]!.features });
    const back = parseJsonl(line + line);
    expect(back).toHaveLength(2);
    expect(back[0]).toEqual(ex);
    expect(parseLog(line)).toEqual([ex]);
  });
  it('points at the bad line', () => {
    expect(() => parseJsonl(`${formatJsonl(ex)}{"x_d":{}}\n`, 'log.jsonl')).toThrow(/log\.jsonl:2: \$\.arms/);
  });
});
