import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MEDIA_POD_NODE_ARGS, missingNodeFlags } from './node-flags.js';

describe('media pod node flags', () => {
  it('caps the young generation', () => {
    assert.ok(MEDIA_POD_NODE_ARGS.some((a) => /^--max-semi-space-size=\d+$/.test(a)));
  });

  it('finds a flag in node\'s arguments or in NODE_OPTIONS, whatever its value or spelling', () => {
    assert.deepEqual(missingNodeFlags([], undefined), [...MEDIA_POD_NODE_ARGS]);
    assert.deepEqual(missingNodeFlags(['--max-semi-space-size=4'], undefined), []);
    assert.deepEqual(missingNodeFlags(['--max-semi-space-size=8'], undefined), [], 'another size is a choice, not a miss');
    assert.deepEqual(missingNodeFlags(['--max_semi_space_size=2'], undefined), [], 'V8 accepts underscores');
    assert.deepEqual(missingNodeFlags([], '--enable-source-maps  --max-semi-space-size=4'), []);
    assert.deepEqual(missingNodeFlags(['--max-old-space-size=512'], '--trace-gc'), ['--max-semi-space-size=4']);
    assert.deepEqual(missingNodeFlags(['--a=1'], '', ['--a=2', '--b']), ['--b']);
  });

  it('the bin script\'s shebang passes the same flags (for a pod started as an executable)', () => {
    const first = readFileSync(new URL('../bin/sipflow-media.js', import.meta.url), 'utf8').split('\n')[0]!;
    assert.equal(first, `#!/usr/bin/env -S node ${MEDIA_POD_NODE_ARGS.join(' ')}`);
  });
});
