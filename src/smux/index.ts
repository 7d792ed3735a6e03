// smux (versions 1 and 2) as kcptun multiplexes streams over one KCP session: frames and the session state machine.
export * from './frame.js';
export * from './mux.js';
