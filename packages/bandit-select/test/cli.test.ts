// Runs the built CLI (dist/cli.js; `turbo run test` builds first) as a child process, like a user would.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { catalogueToJSON, SyntheticWorld } from '../src/index.js';
import { CLI, kill9Experiment } from '../bench/serverHarness.mjs';

const dir = mkdtempSync(join(tmpdir(), 'edge-select-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('edge-select CLI (built)', { timeout: 240_000 }, () => {
  it('is built', () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build -w @edge-compress/bandit-select\` first`).toBe(true);
  });

  it('writes the synthetic catalogue and prints one JSON object with --json', () => {
    const out = join(dir, 'cat.json');
    const r = run('catalogue', '--out', out, '--json');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ out, arms: 10 });
    expect(JSON.parse(readFileSync(out, 'utf8')).arms).toHaveLength(10);
  });

  it('exits 2 with a clear message on bad input', () => {
    const missing = run('serve', '--catalogue', join(dir, 'nope.json'), '--db', join(dir, 'x.sqlite'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/BAD_FILE: cannot read catalogue .*nope\.json/);
    const badCat = join(dir, 'bad.json');
    writeFileSync(badCat, JSON.stringify({ arms: [{ id: 'a', features: {} }] }));
    const bad = run('serve', '--catalogue', badCat, '--db', join(dir, 'x.sqlite'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/BAD_CATALOGUE: .*bad\.json: \$\.arms: a catalogue needs at least 2 arms/);
    const rounds = run('simulate', '--rounds', '-5');
    expect(rounds.status).toBe(2);
    expect(rounds.stderr).toMatch(/--rounds must be an integer in \[1, 10000000\], got "-5"/);
    expect(run('simulate', '--no-such-flag').status).toBe(2);
    expect(run('ope', '--log', join(dir, 'missing.jsonl')).status).toBe(2);
  });

  it('simulate logs VW + JSONL that ope reads back', () => {
    const vw = join(dir, 'log.vw');
    const jl = join(dir, 'log.jsonl');
    const csv = join(dir, 'curves.csv');
    const r = run('simulate', '--rounds', '400', '--devices', '50', '--policies', 'egreedy,linucb', '--log-vw', vw, '--log-jsonl', jl, '--csv', csv, '--json');
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.policies.map((p: { name: string }) => p.name)).toEqual(['egreedy', 'linucb']);
    expect(readFileSync(vw, 'utf8').split('\n\n').length).toBeGreaterThan(400);
    expect(readFileSync(jl, 'utf8').trim().split('\n')).toHaveLength(400);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('t,egreedy,linucb');
    expect(rows).toHaveLength(101);
    expect(rows[100]!.startsWith('400,')).toBe(true);
    for (const log of [vw, jl]) {
      const o = run('ope', '--log', log, '--target', 'uniform', 'arm:mobilenetv2_int8', '--bootstrap', '50', '--json');
      expect(o.status, o.stderr).toBe(0);
      const rep = JSON.parse(o.stdout);
      expect(rep.n).toBe(400);
      expect(rep.targets).toHaveLength(2);
      expect(rep.targets[0].dr.value).toBeGreaterThan(0);
    }
  });

  it('kill -9 mid-load loses no acknowledged feedback; restart rebuilds; export reads the db', async () => {
    const world = new SyntheticWorld({ seed: 1 });
    const catalogue = join(dir, 'k9cat.json');
    writeFileSync(catalogue, JSON.stringify(catalogueToJSON(world.catalogue)));
    const db = join(dir, 'k9.sqlite');
    const r = await kill9Experiment({ catalogue, db, names: world.space.contextNames, killAfterAcked: 150, workers: 6, maxPairs: 600 });
    expect(r.acked).toBeGreaterThanOrEqual(150);
    expect(r.lost).toBe(0);
    expect(r.rebuiltUpdates).toBeGreaterThanOrEqual(r.acked);
    const out = join(dir, 'k9.vw');
    const e = run('export', '--db', db, '--format', 'vw', '--out', out, '--json');
    expect(e.status, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).examples).toBeGreaterThanOrEqual(r.acked);
    expect(readFileSync(out, 'utf8')).toMatch(/^shared \|Device /);
  });

  it('kill -9 mid-load loses no feedback acknowledged through POST /batch (group commit)', async () => {
    const world = new SyntheticWorld({ seed: 2 });
    const catalogue = join(dir, 'k9bcat.json');
    writeFileSync(catalogue, JSON.stringify(catalogueToJSON(world.catalogue)));
    const r = await kill9Experiment({ catalogue, db: join(dir, 'k9b.sqlite'), names: world.space.contextNames, killAfterAcked: 150, workers: 4, maxPairs: 2000, batch: 8 });
    expect(r.acked).toBeGreaterThanOrEqual(150);
    expect(r.lost).toBe(0);
    expect(r.rebuiltUpdates).toBeGreaterThanOrEqual(r.acked);
  });
});
