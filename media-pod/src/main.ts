/**
 * `sipflow-media`: parses flags/env, starts a media pod, drains on SIGTERM and stops on SIGINT.
 */
import { createLogger } from '@sipflow/operator/log';
import { OptionsError, parseOptions } from './cli/options.js';
import { MEDIA_POD_NODE_ARGS, missingNodeFlags } from './node-flags.js';
import { startMediaPod } from './pod.js';

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(err.message + '\n');
      process.exit(/usage:/.test(err.message) && process.argv.includes('--help') ? 0 : 2);
    }
    throw err;
  }
  const logger = createLogger('media-pod');
  const missing = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length > 0) {
    logger.warn('node was started without the media pod\'s flags; V8 may grow its young generation until each scavenge pauses every call for several milliseconds', {
      missing, start: `node ${MEDIA_POD_NODE_ARGS.join(' ')} media-pod/bin/sipflow-media.js`,
    });
  }
  const pod = await startMediaPod(opts, { logger });
  let shuttingDown = false;
  process.on('SIGTERM', () => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info('SIGTERM: draining', { graceSec: opts.drainGraceSec });
    void pod.drain().then(() => pod.stop()).then(() => process.exit(0));
  });
  process.on('SIGINT', () => {
    if (shuttingDown) process.exit(1);
    shuttingDown = true;
    void pod.stop().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  createLogger('media-pod').error('media pod failed to start', { error: err as Error });
  process.exit(1);
});
