/**
 * The flags the media pod's node process is started with, wherever it is started: the image's
 * ENTRYPOINT, the chart's command, the bin script's shebang, `make run`, the benchmarks and the
 * tests that run a real pod (tests check that those agree with this list).
 *
 * `--max-semi-space-size=4` caps V8's young generation at 4 MB per semi-space. Node makes one
 * ArrayBuffer for every UDP datagram it receives, and a scavenge frees all that died since the
 * last one inside its pause. With V8's default (up to 16 MB), the pod's allocation rate grew the
 * young generation to its limit, and at 500 calls each scavenge (one every ~350 ms) paused every
 * call for 3–4.5 ms, most of it freeing ~9,000 ArrayBuffers; that pause was the pod's one-way
 * p99. Capped at 4 MB, a scavenge comes every ~80 ms and pauses for ~1.3 ms. 1 MB was far worse
 * (scavenges every 18 ms, p99 30–37 ms). bench/README.md has the figures.
 */
export const MEDIA_POD_NODE_ARGS: readonly string[] = Object.freeze(['--max-semi-space-size=4']);

/** The flag's name (`--max-semi-space-size`) for `--max-semi-space-size=4`. */
function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq < 0 ? arg : arg.slice(0, eq)).replace(/_/g, '-');
}

/**
 * Which of `wanted` the process was not started with, by flag name (any value counts as set: an
 * operator may choose another size on purpose). Looks at node's own arguments and NODE_OPTIONS.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined, wanted: readonly string[] = MEDIA_POD_NODE_ARGS): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter(Boolean)].map(flagName));
  return wanted.filter((w) => !given.has(flagName(w)));
}
