/**
 * Sessions over UDP (listen, dial), the Node Duplex adapters, the echo service, the impairing
 * relay and kcptun's tunnel. The errors they raise are `KcpError`s (from `rxkcp/core`).
 * @module rxkcp/io
 */
export { Session, aggregateStats, DEFAULT_KEEPALIVE, type SessionEnd, type SessionEndReason, type SessionOptions } from '../transport/session.js';
export { Listener, type ListenOptions } from '../transport/listener.js';
export { dial, DEFAULT_CONNECT_TIMEOUT, type DialOptions } from '../transport/dial.js';
export {
  WorkerListener,
  listenWorkers,
  reusePortAvailable,
  type WorkerContext,
  type WorkerEvent,
  type WorkerHandler,
  type WorkerListenOptions,
  type WorkerListenerStats,
  type WorkerStats,
} from '../transport/workers.js';
export { duplexOf, toDuplex, type DuplexEnds } from '../adapters/stream.js';
export { toWebStreams, type WebStreams } from '../adapters/web-streams.js';
export { muxStreamDuplex } from '../adapters/mux-stream.js';
export { echo } from '../apps/echo.js';
export {
  relay,
  type Impairment,
  type Relay,
  type RelayDirectionStats,
  type RelayDrops,
  type RelayOptions,
  type RelayStats,
  type RelayStatsSnapshot,
} from '../apps/relay.js';
export {
  tunnelClient,
  tunnelServer,
  type TunnelClientOptions,
  type TunnelHandle,
  type TunnelOptions,
  type TunnelServerOptions,
  type TunnelStats,
} from '../apps/tunnel.js';
