/**
 * Holds the config a media pod serves from and swaps it atomically: a new generation either
 * replaces the old one whole or is refused, and a refused or partial config never displaces
 * the last good one. Every outcome is logged and counted.
 */
import { EventEmitter } from 'node:events';
import type { RuntimeConfig } from '@sipflow/operator/contract/types';
import type { Logger } from '@sipflow/operator/log';
import type { MediaMetrics } from '../observability/metrics.js';

export type ConfigLoadResult =
  | { ok: true; config: RuntimeConfig; warnings: string[] }
  | { ok: false; error: string };

export interface ConfigStoreEvents {
  applied: [config: RuntimeConfig];
  refused: [error: string];
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  private config: RuntimeConfig | undefined;
  private lastRefusal: string | undefined;

  constructor(private readonly logger: Logger, private readonly metrics?: MediaMetrics) { super(); }

  current(): RuntimeConfig | undefined { return this.config; }
  /** Why the newest config seen was refused, while an older one (or none) is served. */
  refusal(): string | undefined { return this.lastRefusal; }

  /** Offers a freshly loaded config; returns true when it became the served one. */
  offer(result: ConfigLoadResult, origin: string): boolean {
    if (!result.ok) {
      this.lastRefusal = result.error;
      this.metrics?.configReloads.inc({ result: 'refused' });
      this.metrics?.configRefusedActive.set(1);
      this.logger.warn('config refused; still serving the last good config', {
        origin, error: result.error, servingGeneration: this.config?.generation ?? null,
      });
      this.emit('refused', result.error);
      return false;
    }
    this.lastRefusal = undefined;
    this.metrics?.configRefusedActive.set(0);
    for (const w of result.warnings) this.logger.warn('config warning', { origin, warning: w });
    if (this.config && this.config.generation === result.config.generation) {
      this.metrics?.configReloads.inc({ result: 'unchanged' });
      return false;
    }
    const previous = this.config?.generation ?? null;
    this.config = result.config;
    this.metrics?.configReloads.inc({ result: 'applied' });
    this.metrics?.configApps.set(result.config.appsById.size);
    this.metrics?.configLastApplied.set(Date.now() / 1000);
    this.logger.info('config applied', { origin, generation: result.config.generation, previous, applications: result.config.appsById.size });
    this.emit('applied', result.config);
    return true;
  }
}
