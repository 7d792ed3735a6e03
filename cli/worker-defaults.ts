/**
 * How the commands run worker threads: how many by default, and the handler module they load.
 * @module
 */
import { availableParallelism } from 'node:os';
import { reusePortAvailable } from '../operators/transport/workers.js';

/**
 * Worker threads the servers (echo, sink, tunnel server) run when --workers is not given: every
 * core, as a kcp-go or kcptun server uses them (docs/workers.md has the measurement); none where
 * dgram has no reusePort (an explicit --workers there is refused).
 */
export function defaultWorkers(): number {
  return reusePortAvailable() ? availableParallelism() : 0;
}

/** The handler module of --workers: cli-worker.ts beside this file from source, cli-worker.js beside dist/cli.js. */
export function cliWorkerModule(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './cli-worker.ts' : './cli-worker.js', import.meta.url);
}
