// Shared pieces of the chart tests: locating helm/kubectl (tools/kubectl/install.sh), rendering the
// chart with a values file, and reading rendered manifests as typed objects.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot, runCommand, type CommandResult } from '../support/control-plane.js';

export const root = repoRoot();
export const chartDir = join(root, 'charts', 'sipflow');
export const ciDir = join(chartDir, 'ci');
export const RELEASE = 'sipflow';
export const NAMESPACE = 'sipflow-system';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

export interface Tools {
  helm: string;
  kubectl: string;
}

const requireTools = (): boolean => ['SIPFLOW_REQUIRE_HELM', 'SIPFLOW_REQUIRE_CONTROL_PLANE'].some((k) => {
  const v = process.env[k];
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
});

let toolsPromise: Promise<Tools | string> | undefined;

/** helm and kubectl from tools/kubectl/install.sh, or the reason they are unavailable (tests skip). */
export function chartTools(): Promise<Tools | string> {
  toolsPromise ??= (async () => {
    const res = await runCommand(join(root, 'tools', 'kubectl', 'install.sh'), [], { timeoutMs: 5 * 60_000 });
    const bin = res.stdout.trim().split('\n').pop()?.trim() ?? '';
    if (res.code !== 0 || !existsSync(join(bin, 'helm'))) {
      const reason = `helm/kubectl unavailable (tools/kubectl/install.sh exit ${res.code}): ${res.stderr.trim().slice(-300)}`;
      if (requireTools()) throw new Error(reason);
      return reason;
    }
    return { helm: join(bin, 'helm'), kubectl: join(bin, 'kubectl') };
  })();
  return toolsPromise;
}

/** Keeps helm's caches out of HOME so tests never touch the user's helm config. */
export function helmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(root, 'test', 'dist', '.helm-home');
  return {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    ...extra,
  };
}

export function ciValueFiles(): string[] {
  return readdirSync(ciDir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(ciDir, f));
}

/** `helm template` of the chart with a fixed release name and namespace. */
export function helmTemplate(tools: Tools, args: string[] = []): Promise<CommandResult> {
  return runCommand(tools.helm, ['template', RELEASE, chartDir, '--namespace', NAMESPACE, ...args], {
    env: helmEnv(),
    timeoutMs: 60_000,
  });
}

export function parseManifests(text: string, what: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${what}: ${doc.errors[0]?.message}`);
    const o = doc.toJS() as unknown;
    if (o === null || o === undefined) continue;
    if (typeof o !== 'object' || Array.isArray(o)) throw new Error(`${what}: a document is not a mapping`);
    const obj = o as K8sObject;
    if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string' || typeof obj.metadata?.name !== 'string') {
      throw new Error(`${what}: a document lacks apiVersion, kind or metadata.name`);
    }
    out.push(obj);
  }
  return out;
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function mustFind(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const o = find(objects, kind, name);
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/** Follows a path of keys/indices through plain data; undefined when any step is missing. */
export function dig(o: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

export interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, unknown> }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  [k: string]: unknown;
}

export function podSpec(workload: K8sObject): Record<string, unknown> {
  const spec = dig(workload, 'spec', 'template', 'spec');
  if (!spec || typeof spec !== 'object') throw new Error(`${workload.kind}/${workload.metadata.name} has no pod template`);
  return spec as Record<string, unknown>;
}

export function container(workload: K8sObject, name: string): Container {
  const cs = podSpec(workload).containers as Container[] | undefined;
  const c = cs?.find((x) => x.name === name);
  if (!c) throw new Error(`${workload.kind}/${workload.metadata.name} has no container ${name}`);
  return c;
}

export function envOf(c: Container, name: string): { name: string; value?: string; valueFrom?: Record<string, unknown> } | undefined {
  return c.env?.find((e) => e.name === name);
}
