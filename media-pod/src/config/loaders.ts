/**
 * Turns each config source into a ConfigLoadResult: manifests rendered in-process with the
 * operator's own render code (local mode), or contract files as the operator wrote them
 * (`--config-dir`). Nothing here decides whether to serve the result; the store does.
 */
import {
  assembleRuntimeConfig, formatDocError, loadManifestDir, readContractDir, render, validateObject,
} from '@sipflow/operator/render/index';
import type { ConfigLoadResult } from './store.js';

/** Local mode: any invalid manifest refuses the whole edit, so a typo never takes an app offline. */
export function loadFromManifests(dir: string, sipDomain: string): ConfigLoadResult {
  let set;
  try {
    set = loadManifestDir(dir);
  } catch (err) {
    return { ok: false, error: `cannot read manifests in ${dir}: ${(err as Error).message}` };
  }
  const problems = set.problems.map((p) => `${p.source.file}#${p.source.index}: ${p.message}`);
  for (const doc of set.docs) {
    const v = validateObject(doc.object);
    if (!v.ok) for (const e of v.errors) problems.push(formatDocError(doc.source, doc.object, e));
  }
  if (problems.length > 0) return { ok: false, error: problems.join('; ') };
  const rendered = render({ objects: set.docs.map((d) => d.object), sipDomain });
  const warnings = rendered.results
    .filter((r) => !r.ready)
    .map((r) => `${r.kind} ${r.namespace}/${r.name} is not served: ${r.reason}: ${r.message}`);
  const shardTexts = new Map<string, string>();
  for (const s of [...rendered.routingShards, ...rendered.credentialShards]) shardTexts.set(s.name, s.text);
  const assembled = assembleRuntimeConfig(rendered.indexText, shardTexts);
  return assembled.ok ? { ok: true, config: assembled.config, warnings } : { ok: false, error: assembled.error };
}

/** `--config-dir`: the index and the shards it names, verified by hash before use. */
export function loadFromConfigDir(dir: string): ConfigLoadResult {
  let read;
  try {
    read = readContractDir(dir);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const assembled = assembleRuntimeConfig(read.indexText, read.shardTexts);
  return assembled.ok ? { ok: true, config: assembled.config, warnings: [] } : { ok: false, error: assembled.error };
}
