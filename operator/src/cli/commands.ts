/**
 * The sipflow-operator subcommands behind one dispatch table, written against injected
 * output streams so tests call them in-process. `run` is the controller itself (run.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { writeContractFiles } from '../contract/contract.js';
import { describeDoc, formatDocError, loadManifestDir, loadManifestPaths, type ManifestSet } from '../api/manifests.js';
import { validateObject } from '../api/validate.js';
import { isPlainObject } from '../api/types.js';
import { render, toKubeObjects } from '../render/render.js';
import { RUN_USAGE, RunUsageError, runOperator } from './run.js';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Ends long-running commands (`run`); they also stop on SIGTERM/SIGINT. */
  signal?: AbortSignal;
  /** `run` reports its bound probe address here. */
  onListening?: (address: string) => void;
}

export interface Command {
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<number> | number;
}

class UsageError extends Error {}

/** Validates every document; returns the number of invalid ones (parse problems included). */
function checkSet(set: ManifestSet, io: CliIo): { invalid: number; valid: unknown[] } {
  let invalid = 0;
  for (const p of set.problems) {
    io.err(`${describeDoc(p.source)}: ${p.message}`);
    invalid++;
  }
  const valid: unknown[] = [];
  for (const d of set.docs) {
    const v = validateObject(d.object);
    if (v.ok) {
      valid.push(d.object);
      continue;
    }
    invalid++;
    for (const e of v.errors) io.err(formatDocError(d.source, d.object, e));
  }
  return { invalid, valid };
}

function kindSummary(objects: unknown[]): string {
  const counts = new Map<string, number>();
  for (const o of objects) {
    const k = isPlainObject(o) && typeof o.kind === 'string' ? o.kind : '?';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${n} ${k}`).join(', ');
}

const validate: Command = {
  summary: 'check manifests offline against the CRDs (schema, defaults, CEL rules)',
  usage: 'sipflow-operator validate FILE|DIR...',
  run(args, io) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    if (positionals.length === 0) throw new UsageError('validate needs at least one file or folder');
    const set = loadManifestPaths(positionals);
    const { invalid, valid } = checkSet(set, io);
    if (invalid > 0) {
      io.err(`${invalid} invalid document${invalid === 1 ? '' : 's'} (${valid.length} valid) in ${set.files.length} file${set.files.length === 1 ? '' : 's'}`);
      return 1;
    }
    io.out(`OK: ${valid.length} object${valid.length === 1 ? '' : 's'} in ${set.files.length} file${set.files.length === 1 ? '' : 's'}${valid.length ? ` (${kindSummary(valid)})` : ''}`);
    return 0;
  },
};

const renderCmd: Command = {
  summary: 'render manifests into the media pod --config-dir layout and the objects the operator would apply',
  usage: 'sipflow-operator render --manifests DIR --out DIR [--sip-domain NAME] [--realm NAME] [--namespace NS]',
  run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        manifests: { type: 'string' },
        out: { type: 'string' },
        'sip-domain': { type: 'string', default: 'sip.local' },
        realm: { type: 'string' },
        namespace: { type: 'string', default: 'sipflow-system' },
      },
    });
    if (!values.manifests || !values.out) throw new UsageError('render needs --manifests DIR and --out DIR');
    const set = loadManifestDir(values.manifests);
    const { invalid } = checkSet(set, io);
    const result = render({
      objects: set.docs.map((d) => d.object),
      sipDomain: values['sip-domain'],
      ...(values.realm ? { defaultRealm: values.realm } : {}),
    });
    mkdirSync(values.out, { recursive: true });
    writeContractFiles(values.out, result);
    const objects = toKubeObjects(result, values.namespace);
    // objects.yaml holds the credential Secret (HA1 digests): owner-only, like the shard files.
    writeFileSync(join(values.out, 'objects.yaml'), objects.map((o) => toYaml(o, { lineWidth: 0 })).join('---\n'), { mode: 0o600 });
    for (const r of result.results) {
      io.out(`${r.kind} ${r.namespace}/${r.name}: Ready=${r.ready ? 'True' : 'False'} ${r.reason}: ${r.message}`);
    }
    io.out(`generation ${result.index.generation}: ${result.index.appCount} app${result.index.appCount === 1 ? '' : 's'}, ${result.routingShards.length} routing shard${result.routingShards.length === 1 ? '' : 's'}, ${result.credentialShards.length} credential shard${result.credentialShards.length === 1 ? '' : 's'} written to ${values.out}`);
    if (invalid > 0) {
      io.err(`${invalid} invalid document${invalid === 1 ? '' : 's'}; they were left out of the config`);
      return 1;
    }
    return 0;
  },
};

const run: Command = {
  summary: 'run the controller against a cluster (reconciles the custom resources into the config)',
  usage: RUN_USAGE,
  run: (args, io) => runOperator(args, io),
};

export const COMMANDS: Record<string, Command> = {
  validate,
  render: renderCmd,
  run,
};

function help(io: CliIo['out']): void {
  io('usage: sipflow-operator <command> [options]');
  for (const [name, c] of Object.entries(COMMANDS)) io(`  ${name.padEnd(10)} ${c.summary}\n             ${c.usage}`);
}

/** Runs one command line; returns the process exit code (0 ok, 1 invalid input, 2 usage). */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    help(name ? io.out : io.err);
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`unknown command ${JSON.stringify(name)}`);
    help(io.err);
    return 2;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError || e instanceof RunUsageError || (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.err(`${(e as Error).message}\nusage: ${cmd.usage}`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EACCES') {
      io.err(`${name}: ${err.message}`);
      return 1;
    }
    throw e;
  }
}
