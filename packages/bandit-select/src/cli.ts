#!/usr/bin/env node
/**
 * edge-select: serve | simulate | ope | export | catalogue. Exit codes: 0 ok, 1 runtime failure, 2 bad input.
 * With --json a command prints exactly one JSON object on stdout; human-readable output otherwise. Files are written
 * to a temp file and renamed, so there is never a half-written output.
 */
import { readFileSync, renameSync, writeFileSync, unlinkSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { parseCatalogue, type Catalogue, catalogueToJSON, FeatureSpace } from './catalogue.js';
import { BanditError, exitCodeOf, isBanditError } from './errors.js';
import { formatJsonl, formatVwAdf, parseLog, type LoggedExample } from './logging.js';
import { estimateOffPolicy, samplesFromLog, spaceFromLog, type OpeReport, type TargetPolicy } from './ope.js';
import { parsePolicyConfig, POLICY_KINDS, restorePolicy, type PolicyConfigInput } from './policies/index.js';
import { DEFAULT_SIM_POLICIES, formatSimulationTable, regretCsv, runSimulation, type SimPolicySpec } from './simulator.js';
import { startServer } from './server/index.js';
import { EventStore } from './server/store.js';
import { SyntheticWorld, simArmsFromCatalogue, WORLD_ENVS } from './world.js';

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw new BanditError({ code: 'IO_ERROR', message: `cannot write ${path}: ${(e as Error).message}`, path, hint: 'check that the directory exists and is writable', cause: e });
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new BanditError({ code: 'BAD_FILE', message: `cannot read ${what} ${path}: ${(e as Error).message}`, path, hint: `check the ${what} path`, cause: e });
  }
}

function readJson(path: string, what: string): unknown {
  const text = readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BanditError({ code: 'BAD_FILE', message: `${what} ${path} is not valid JSON: ${(e as Error).message}`, path, hint: `fix the JSON in ${path}`, cause: e });
  }
}

function loadCatalogue(path: string): Catalogue {
  return parseCatalogue(readJson(path, 'catalogue'), path);
}

function num(name: string, min: number, max: number, integer = true) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new BanditError({
        code: 'BAD_CONFIG',
        message: `--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got "${v}"`,
        path: `--${name}`,
        hint: `e.g. --${name} ${min}`,
      });
    }
    return n;
  };
}

function policyFromFlags(o: { policy?: string; alpha?: number; epsilon?: number; seed?: number; policyJson?: string }): PolicyConfigInput | undefined {
  if (o.policyJson) {
    let v: unknown;
    try {
      v = JSON.parse(o.policyJson);
    } catch (e) {
      throw new BanditError({
        code: 'BAD_CONFIG',
        message: `--policy-json is not valid JSON: ${(e as Error).message}`,
        path: '--policy-json',
        hint: 'e.g. --policy-json \'{"kind":"linucb","alpha":0.2}\'',
      });
    }
    return parsePolicyConfig(v, '--policy-json');
  }
  if (o.policy === undefined) {
    if (o.alpha !== undefined || o.epsilon !== undefined) {
      throw new BanditError({ code: 'BAD_CONFIG', message: '--alpha / --epsilon need --policy', path: '--policy', hint: 'e.g. --policy linucb --alpha 0.2' });
    }
    return undefined;
  }
  const cfg: Record<string, unknown> = { kind: o.policy };
  if (o.alpha !== undefined) cfg.alpha = o.alpha;
  if (o.epsilon !== undefined) cfg.epsilon = o.epsilon;
  return parsePolicyConfig(cfg, '--policy');
}

function print(json: boolean, obj: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${human}\n`);
}

function opeTable(rows: Array<{ target: string; r: OpeReport }>): string {
  const head = ['target', 'IPS', 'IPS-CV', 'SNIPS', 'DM', 'DR', 'DR 95% CI', 'ESS'];
  const body = rows.map(({ target, r }) => [
    target,
    r.ips.value.toFixed(4),
    r.ipsCv.value.toFixed(4),
    r.snips.value.toFixed(4),
    r.dm.value.toFixed(4),
    r.dr.value.toFixed(4),
    `[${r.dr.ci[0].toFixed(4)}, ${r.dr.ci[1].toFixed(4)}]`,
    r.ess.toFixed(0),
  ]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}

export function buildProgram(): Command {
  const program = new Command('edge-select')
    .description('Per-device selection of the QoE-optimal compressed model by contextual bandits')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('serve')
    .description('run the HTTP selection service (durable: every event in SQLite, policy rebuilt from the log on start)')
    .requiredOption('--catalogue <file>', 'catalogue JSON {"arms":[{"id","features":{...}}],"context"?:[...]}')
    .requiredOption('--db <file>', 'SQLite event log (created if missing)')
    .addOption(new Option('--policy <kind>', 'policy (default: qoets when the catalogue has the QoE block, else linucb)').choices([...POLICY_KINDS]))
    .option('--policy-json <json>', 'full policy config, e.g. {"kind":"linucb","alpha":0.2}')
    .option('--alpha <n>', 'LinUCB exploration width', num('alpha', 0, 100, false))
    .option('--epsilon <n>', 'ε (mixture floor / ε-greedy)', num('epsilon', 0, 1, false))
    .option('--seed <n>', 'seed', num('seed', 0, 0xffffffff), 1)
    .option('--port <n>', 'port (0 = any free port)', num('port', 0, 65535), 8080)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--body-limit <bytes>', 'max request body', num('body-limit', 64, 64 * 1024 * 1024), 16 * 1024)
    .addOption(new Option('--synchronous <mode>', 'SQLite synchronous (normal survives kill -9; full also power loss)').choices(['normal', 'full']).default('normal'))
    .option('--no-group-commit', 'one SQLite transaction per request instead of one per event-loop turn (both acknowledge only committed events)')
    .option('--json', 'print one JSON line when listening')
    .action(async (o) => {
      const catalogue = loadCatalogue(o.catalogue);
      const policy = policyFromFlags(o);
      const s = await startServer({
        catalogue,
        dbPath: o.db,
        ...(policy ? { policy } : {}),
        seed: o.seed,
        port: o.port,
        host: o.host,
        bodyLimitBytes: o.bodyLimit,
        synchronous: o.synchronous,
        groupCommit: o.groupCommit !== false,
      });
      const info = { url: s.url, policy: policy?.kind ?? 'default', db: o.db, rebuild: s.service.rebuildInfo };
      print(
        !!o.json,
        info,
        `edge-select: listening on ${s.url} (policy ${info.policy}; ${info.rebuild.feedbacks} feedbacks replayed from ${o.db} in ${info.rebuild.ms.toFixed(0)} ms)`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void s.app.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });

  program
    .command('simulate')
    .description('run every policy on the synthetic device population and print cumulative regret side by side')
    .option('--rounds <n>', 'rounds T', num('rounds', 1, 10_000_000), 10_000)
    .option('--seed <n>', 'seed', num('seed', 0, 0xffffffff), 1)
    .option('--devices <n>', 'device types', num('devices', 1, 1_000_000), 300)
    .option('--users <n>', 'users', num('users', 1, 1_000_000), 50)
    .option('--env <name>', `simulator environment: ${WORLD_ENVS.join(' | ')}`, 'base')
    .option('--catalogue <file>', 'pipeline catalogue (arms need acc, macs|log_macs, params|bytes; optional bits, density)')
    .option(
      '--policies <list>',
      `comma-separated kinds and/or best-fixed (default: ${DEFAULT_SIM_POLICIES.map((p) => (typeof p === 'string' ? p : (p as { kind: string }).kind)).join(',')})`,
    )
    .option('--out <file>', 'write the full result (curves) as JSON')
    .option('--csv <file>', 'write the cumulative regret curves side by side as CSV (t, one column per policy)')
    .option('--log-vw <file>', 'write the decisions of --log-policy as VW cb_adf text')
    .option('--log-jsonl <file>', 'write the decisions of --log-policy as JSONL')
    .option('--log-policy <name>', 'policy whose decisions are logged (default: the first)')
    .option('--json', 'print the result as one JSON object')
    .action((o) => {
      let policies: SimPolicySpec[] | undefined;
      if (o.policies) {
        policies = String(o.policies)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .map((k) => (k === 'best-fixed' ? 'best-fixed' : (parsePolicyConfig({ kind: k }, '--policies') as PolicyConfigInput)));
      }
      const arms = o.catalogue ? simArmsFromCatalogue(loadCatalogue(o.catalogue)) : undefined;
      const world = new SyntheticWorld({ seed: o.seed, deviceTypes: o.devices, users: o.users, env: o.env, ...(arms ? { arms } : {}) });
      const vw: string[] = [];
      const jl: string[] = [];
      const logging = o.logVw || o.logJsonl;
      const result = runSimulation({
        world,
        rounds: o.rounds,
        ...(policies ? { policies } : {}),
        ...(o.logPolicy ? { logPolicy: o.logPolicy } : {}),
        ...(logging
          ? {
              onLog: (ex: LoggedExample) => {
                if (o.logVw) vw.push(formatVwAdf(ex));
                if (o.logJsonl) jl.push(formatJsonl(ex));
              },
            }
          : {}),
      });
      if (o.logVw) writeAtomic(o.logVw, vw.join(''));
      if (o.logJsonl) writeAtomic(o.logJsonl, jl.join(''));
      if (o.out) writeAtomic(o.out, `${JSON.stringify(result, null, 1)}\n`);
      if (o.csv) writeAtomic(o.csv, regretCsv(result));
      const summary = { ...result, policies: result.policies.map(({ cumRegret: _c, ...p }) => p) };
      print(
        !!o.json,
        o.out ? summary : result,
        `${formatSimulationTable(result)}\n(T=${result.rounds}, ${result.deviceTypes} device types, ${result.numArms} arms, φ dim ${result.dim}, best fixed arm ${result.bestFixedArm})`,
      );
    });

  program
    .command('ope')
    .description('off-policy evaluation (IPS, IPS-CV, SNIPS, DM, DR) of target policies on a logged cb_adf or JSONL file')
    .requiredOption('--log <file>', 'log file: VW cb_adf text or JSONL (from simulate --log-*, or export)')
    .option('--target <spec...>', 'uniform | arm:<id> | state:<file> (GET /policy?full=1 output); default: uniform and every arm')
    .option('--clip <n>', 'importance-weight clip M', num('clip', 1, 1e9, false), 50)
    .option('--bootstrap <n>', 'bootstrap resamples', num('bootstrap', 0, 100_000), 1000)
    .option('--seed <n>', 'seed', num('seed', 0, 0xffffffff), 1)
    .option('--json', 'print one JSON object')
    .action((o) => {
      const examples = parseLog(readText(o.log, 'log'), o.log);
      const targets: string[] = o.target ?? ['uniform', ...[...new Set(examples.flatMap((e) => e.arms.map((a) => a.id)))].map((id) => `arm:${id}`)];
      const rows: Array<{ target: string; r: OpeReport }> = [];
      const logSpace = spaceFromLog(examples);
      for (const t of targets) {
        let space: FeatureSpace = logSpace;
        let target: TargetPolicy;
        if (t === 'uniform') {
          target = (b, out) => {
            for (let j = 0; j < b.k; j++) out[j] = 1 / b.k;
          };
        } else if (t.startsWith('arm:')) {
          const idx = logSpace.armIndexOf(t.slice(4));
          if (idx === undefined) {
            throw new BanditError({
              code: 'UNKNOWN_ARM',
              message: `--target ${t}: arm "${t.slice(4)}" is not in the log (known: ${logSpace.armIds.join(', ')})`,
              path: '--target',
              hint: 'use arm:<id> with a logged arm id',
            });
          }
          target = (b, out) => {
            let pos = -1;
            for (let j = 0; j < b.k; j++) if (b.arms[j] === idx) pos = j;
            for (let j = 0; j < b.k; j++) out[j] = pos < 0 ? 1 / b.k : j === pos ? 1 : 0;
          };
        } else if (t.startsWith('state:')) {
          const file = t.slice(6);
          const obj = readJson(file, 'policy state') as { catalogue?: unknown; state?: unknown };
          if (!obj || typeof obj !== 'object' || !obj.catalogue || !obj.state) {
            throw new BanditError({
              code: 'BAD_STATE',
              message: `${file} lacks "catalogue" and "state"`,
              path: file,
              hint: 'save it with: curl "http://127.0.0.1:8080/policy?full=1" > state.json',
            });
          }
          const cat = parseCatalogue(obj.catalogue, `${file}:catalogue`);
          const summary = obj as { contextFeatures?: string[] };
          space = new FeatureSpace(cat, cat.context ? undefined : summary.contextFeatures);
          target = restorePolicy(obj.state, space);
        } else {
          throw new BanditError({ code: 'BAD_CONFIG', message: `--target "${t}" is not a target spec`, path: '--target', hint: 'use uniform, arm:<id> or state:<file>' });
        }
        const samples = samplesFromLog(examples, space);
        rows.push({ target: t, r: estimateOffPolicy(samples, space, target, { clip: o.clip, bootstrap: o.bootstrap, seed: o.seed }) });
      }
      const logged = rows[0]?.r.logged ?? 0;
      print(
        !!o.json,
        { log: o.log, n: rows[0]?.r.n ?? 0, loggedValue: logged, targets: rows.map(({ target, r }) => ({ target, ...r })) },
        `${opeTable(rows)}\n(n=${rows[0]?.r.n ?? 0}, logging policy's mean reward ${logged.toFixed(4)})`,
      );
    });

  program
    .command('export')
    .description('export the decisions in a service database as VW cb_adf or JSONL (events with feedback)')
    .requiredOption('--db <file>', 'SQLite event log written by serve')
    .addOption(new Option('--format <fmt>', 'output format').choices(['vw', 'jsonl']).default('vw'))
    .requiredOption('--out <file>', 'output file')
    .option('--all', 'include events without feedback (JSONL: reward null; VW: unlabelled)')
    .option('--json', 'print one JSON object')
    .action((o) => {
      const store = new EventStore(o.db);
      try {
        const catJson = store.getMeta('catalogue');
        if (!catJson)
          throw new BanditError({
            code: 'BAD_FILE',
            message: `${o.db} has no catalogue: not an edge-select database, or empty`,
            path: o.db,
            hint: 'pass the --db file used by edge-select serve',
          });
        const cat = parseCatalogue(JSON.parse(catJson), `${o.db}:catalogue`);
        const parts: string[] = [];
        let n = 0;
        for (const row of store.events()) {
          if (row.reward === null && !o.all) continue;
          const offered: number[] = row.offered ? (JSON.parse(row.offered) as number[]) : cat.arms.map((_, i) => i);
          const ex: LoggedExample = {
            t: row.seq,
            eventId: row.eventId,
            context: JSON.parse(row.context) as Record<string, number>,
            arms: offered.map((i) => ({ id: cat.arms[i]!.id, features: cat.arms[i]!.features })),
            chosen: offered.indexOf(row.arm),
            probability: row.probability,
            probs: JSON.parse(row.probs) as number[],
            ...(row.reward !== null ? { reward: row.reward } : {}),
            policy: row.policy,
          };
          parts.push(o.format === 'vw' ? formatVwAdf(ex) : formatJsonl(ex));
          n++;
        }
        writeAtomic(o.out, parts.join(''));
        print(!!o.json, { out: o.out, format: o.format, examples: n }, `wrote ${n} examples to ${o.out} (${o.format})`);
      } finally {
        store.close();
      }
    });

  program
    .command('catalogue')
    .description('write the built-in synthetic catalogue (with context scaling) as JSON')
    .requiredOption('--out <file>', 'output file')
    .option('--seed <n>', 'seed of the synthetic world (sets the context scaling)', num('seed', 0, 0xffffffff), 1)
    .option('--json', 'print one JSON object')
    .action((o) => {
      const world = new SyntheticWorld({ seed: o.seed });
      writeAtomic(o.out, `${JSON.stringify(catalogueToJSON(world.catalogue), null, 1)}\n`);
      print(!!o.json, { out: o.out, arms: world.catalogue.arms.length, context: world.space.contextNames }, `wrote ${world.catalogue.arms.length} arms to ${o.out}`);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    const msg = isBanditError(e) ? `edge-select: ${e.code}: ${e.message}` : `edge-select: ${(e as Error)?.stack ?? String(e)}`;
    process.stderr.write(`${msg}\n`);
    return exitCodeOf(e);
  }
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});
