// Unit tests of the JSON logger: line content equals serialising the merged record (base fields,
// then the line's own, secrets redacted), whichever way the line is built; stdout batching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createLogger, setLogSink, type Fields } from './log.js';

const SECRET = /pass(word)?|secret|token|ha1|authorization|^response$|digest|nonce_key|signature/i;

/** The record as the logger defines it: ts, level, msg, base fields, own fields (later keys win). */
function reference(line: string, level: string, msg: string, base: Fields, own: Fields | undefined): string {
  const ts = (JSON.parse(line) as { ts: string }).ts;
  const scrub = (f: Fields): Fields => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, SECRET.test(k) ? '[redacted]' : v instanceof Error ? { name: v.name, message: v.message } : v]));
  return JSON.stringify({ ts, level, msg, ...scrub(base), ...(own ? scrub(own) : {}) });
}

test('log lines equal the merged record, with overlapping, integer-like and secret names', () => {
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  try {
    const cases: Array<{ base: Fields; own?: Fields }> = [
      { base: {} },
      { base: { callId: 'c1', callUuid: 'u1' }, own: { source: '1.2.3.4:5060', n: 3, ok: true, missing: undefined } },
      { base: { callId: 'c1' }, own: { callId: 'overrides', extra: 'x' } },
      { base: { callId: 'c1' }, own: { msg: 'shadow', level: 'shadow', ts: 'shadow' } },
      { base: { callId: 'c1' }, own: { 404: 'integer-like', z: 1 } },
      { base: { 7: 'integer-like base', a: 'b' }, own: { q: 1 } },
      { base: { nested: { a: 1 } }, own: { q: 1 } },
      { base: { password: 'hunter2', app: 'a' }, own: { authToken: 't0ps3cret', response: 'abcdef', err: new TypeError('bad "quote"\n') } },
      { base: { callId: 'x' }, own: { list: [1, 'two', null], obj: { deep: { er: '\u2028' } }, nul: null } },
      { base: { callId: 'x' }, own: {} },
    ];
    for (const c of cases) {
      lines.length = 0;
      let log = createLogger('comp', 'debug');
      // child() merges into the base, as the pod does per subsystem and per call.
      log = log.child(c.base);
      log.info('hello "world"', c.own);
      assert.equal(lines.length, 1);
      assert.equal(lines[0], reference(lines[0]!, 'info', 'hello "world"', { component: 'comp', ...c.base }, c.own), JSON.stringify(c.base));
      assert.doesNotMatch(lines[0]!, /hunter2|t0ps3cret|abcdef/);
    }
  } finally {
    setLogSink((l) => process.stdout.write(l + '\n'));
  }
});

test('levels below the minimum write nothing', () => {
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  try {
    const log = createLogger('comp', 'warn').child({ a: 1 });
    log.debug('d', { x: 1 });
    log.info('i');
    log.warn('w');
    log.error('e', { y: 2 });
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['w', 'e']);
  } finally {
    setLogSink((l) => process.stdout.write(l + '\n'));
  }
});

test('stdout: batched lines all arrive, in order, also when the process exits right away or throws', () => {
  const script = (n: number, tail: string): string => `
    const { createLogger } = await import(${JSON.stringify(import.meta.url.replace(/\.test\.(ts|js)$/, '.$1'))});
    const log = createLogger('t');
    for (let i = 0; i < ${n}; i++) log.info('line', { i });
    ${tail}`;
  // 3000 lines (~200 KB) pass the size threshold several times; the exit cases stay below a pipe's
  // capacity, because a pipe write left pending at exit is lost whatever the logger does.
  for (const [n, tail] of [[3000, ''], [3000, 'setTimeout(() => {}, 50);'], [300, 'process.exit(3);'], [300, 'throw new Error("boom");']] as const) {
    // execArgv carries a TypeScript loader when the tests run from source.
    const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script(n, tail)], { encoding: 'utf8', timeout: 20_000 });
    const got = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), tail);
  }
});
