// Lints operator/Dockerfile and media-pod/Dockerfile without a Docker engine: a small parser checks
// pinned base images, a non-root final stage without dev dependencies, entry points that exist in the
// repository, the files each image needs, and EXPOSE ports that match the chart's defaults.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MEDIA_POD_NODE_ARGS } from '@sipflow/media-pod/node-flags';
import { chartDir, root } from './chart-tools.js';

interface Instruction {
  line: number;
  op: string;
  args: string;
}

interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Joins continuation lines, drops comments and parser directives, splits into FROM-delimited stages. */
export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*#/.test(line)) return;
    if (pending === '' && line.trim() === '') return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    pending += line;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(pending);
    if (!m) throw new Error(`line ${start}: cannot parse "${pending}"`);
    instructions.push({ line: start, op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    pending = '';
  });
  if (pending !== '') throw new Error('dangling line continuation at the end');
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: bad FROM "${ins.args}"`);
      stages.push({ from: m[1]!, name: m[2], body: [] });
    } else {
      const cur = stages[stages.length - 1];
      if (!cur) throw new Error(`line ${ins.line}: ${ins.op} before the first FROM`);
      cur.body.push(ins);
    }
  }
  return stages;
}

function jsonArray(ins: Instruction): string[] {
  const v = JSON.parse(ins.args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `line ${ins.line}: ${ins.op} must use the JSON (exec) form`);
  return v as string[];
}

interface ImageSpec {
  dockerfile: string;
  entry: string[];
  cmd?: string[];
  expose: string[];
  /** Repository paths the final stage must copy in. */
  mustCopy: string[];
}

const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as {
  operator: { httpPort: number };
  media: { sipPort: number; httpPort: number };
};

const images: ImageSpec[] = [
  {
    dockerfile: 'operator/Dockerfile',
    entry: ['node', 'operator/bin/sipflow-operator.js'],
    cmd: ['run'],
    expose: [`${values.operator.httpPort}/tcp`],
    mustCopy: ['crds/', 'operator/bin/', '/src/operator/dist/'],
  },
  {
    dockerfile: 'media-pod/Dockerfile',
    // The same node flags as every other launcher of the pod.
    entry: ['node', ...MEDIA_POD_NODE_ARGS, 'media-pod/bin/sipflow-media.js'],
    expose: [`${values.media.sipPort}/udp`, `${values.media.sipPort}/tcp`, `${values.media.httpPort}/tcp`],
    mustCopy: ['crds/', 'operator/bin/', '/src/operator/dist/', 'media-pod/bin/', '/src/media-pod/dist/'],
  },
];

const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('Dockerfiles', () => {
  it('the parser handles continuations, comments and stages', () => {
    const stages = parseDockerfile('# c\nFROM a:1 AS b\nRUN x \\\n  && y\nFROM b\nUSER 1000\n');
    assert.equal(stages.length, 2);
    assert.deepEqual(stages[0]!.body.map((i) => i.args), ['x    && y']);
    assert.equal(stages[1]!.from, 'b');
  });

  for (const img of images) {
    describe(img.dockerfile, () => {
      const stages = parseDockerfile(readFileSync(join(root, img.dockerfile), 'utf8'));
      const final = stages[stages.length - 1]!;
      const stageNames = new Set(stages.map((s) => s.name).filter((n): n is string => !!n));
      const finalOps = (op: string): Instruction[] => final.body.filter((i) => i.op === op);

      it('is multi-stage, every base image pinned by a tag (not latest) or digest', () => {
        assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
        for (const s of stages) {
          if (stageNames.has(s.from)) continue;
          assert.match(s.from, /^[a-z0-9./-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$/, `FROM ${s.from} is not pinned`);
          assert.doesNotMatch(s.from, /:latest$/, `FROM ${s.from}`);
        }
      });

      it('builds with npm ci then npx tsc -b', () => {
        const build = stages[0]!.body.filter((i) => i.op === 'RUN').map((i) => i.args);
        const ci = build.findIndex((r) => /\bnpm ci\b/.test(r));
        const tsc = build.findIndex((r) => /\bnpx tsc -b\b/.test(r));
        assert.ok(ci >= 0 && tsc > ci, `npm ci before npx tsc -b in: ${build.join(' | ')}`);
      });

      it('final stage: non-root USER, production dependencies only', () => {
        const users = finalOps('USER');
        assert.ok(users.length > 0, 'USER set in the final stage');
        const user = users[users.length - 1]!.args.split(':')[0]!;
        assert.ok(user !== 'root' && user !== '0', `USER ${user}`);
        assert.match(user, /^\d+$/, 'a numeric USER lets runAsNonRoot verify it');
        for (const r of finalOps('RUN')) {
          assert.doesNotMatch(r.args, /\bnpm (install|i|add)\b/, `line ${r.line}: npm install in the final stage`);
          if (/\bnpm ci\b/.test(r.args)) assert.match(r.args, /--omit=dev/, `line ${r.line}: npm ci without --omit=dev`);
          assert.doesNotMatch(r.args, /\b(tsc|tsx)\b/, `line ${r.line}: build tools in the final stage`);
        }
      });

      it('ENTRYPOINT/CMD are the entry points the tests run, and those files exist', () => {
        const entry = finalOps('ENTRYPOINT');
        assert.equal(entry.length, 1);
        assert.deepEqual(jsonArray(entry[0]!), img.entry);
        const cmd = finalOps('CMD');
        if (img.cmd) assert.deepEqual(jsonArray(cmd[0]!), img.cmd);
        else assert.equal(cmd.length, 0);
        const workdir = finalOps('WORKDIR').pop()?.args;
        assert.equal(workdir, '/app', 'paths are relative to /app, the repository root inside the image');
        for (const arg of img.entry.slice(1).filter((a) => !a.startsWith('--'))) assert.ok(existsSync(join(root, arg)), `${arg} exists in the repository`);
      });

      it('copies what the image needs, from paths that exist and the build context does not ignore', () => {
        const copies = finalOps('COPY').map((i) => i.args.split(/\s+/));
        const sources = copies.flatMap((parts) => parts.slice(parts[0]!.startsWith('--') ? 1 : 0, -1));
        for (const p of img.mustCopy) assert.ok(sources.includes(p), `final stage copies ${p}`);
        for (const s of stages) {
          for (const c of s.body.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
            for (const src of c.args.split(/\s+/).slice(0, -1)) {
              assert.ok(existsSync(join(root, src)), `line ${c.line}: COPY source ${src} does not exist`);
              const top = src.replace(/\/$/, '');
              assert.ok(!ignored.includes(top) && !ignored.includes(`${top.split('/')[0]}`), `line ${c.line}: ${src} is excluded by .dockerignore`);
            }
          }
        }
      });

      it('EXPOSE matches the chart defaults', () => {
        const exposed = finalOps('EXPOSE').flatMap((i) => i.args.split(/\s+/));
        assert.deepEqual(exposed.sort(), [...img.expose].sort());
      });
    });
  }
});
