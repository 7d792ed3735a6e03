/**
 * Sessions over UDP (listen, dial), the Node Duplex adapter and the UDP edge. KcpError is
 * exported from every entry point: it is one class, shared by all of them.
 * @module rxkcp/io
 */
export * from '../../src/errors.js';
export * from './udp.js';
export * from './session.js';
export * from './listener.js';
export * from './dial.js';
export * from './stream.js';
export * from './pattern.js';
export * from './echo.js';
export * from './relay.js';
export * from './mux-stream.js';
export * from './tunnel.js';
