/**
 * Starts one of this package's worker-thread modules both from compiled JavaScript (production,
 * `node --test dist/...`) and from TypeScript source under tsx, whose loader worker threads do
 * not inherit on Node 20.
 */
import { Worker } from 'node:worker_threads';

/** Spawn `./<name>.js` (or `.ts` when the caller itself is running from source) next to `callerUrl`. */
export function spawnSiblingWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (callerUrl.endsWith('.ts')) {
    const target = new URL(`./${name}.ts`, callerUrl).href;
    return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(target)}); })`, { eval: true, workerData });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
}
