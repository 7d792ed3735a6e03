/**
 * An echo server on every core: `listenWorkers` runs the handler module in N worker threads, each
 * with its own socket on the same port (Linux, Node 22.12+). Eight clients then echo 1 MiB each;
 * the counters of each worker and their sum are printed, and the server closes.
 *
 *   npx tsx examples/workers-echo.ts [workers]
 */
import { availableParallelism } from 'node:os';
import { dial, listenWorkers } from 'rxkcp/io';

const workers = Number(process.argv[2] ?? availableParallelism());
const options = { mode: 'fast3', crypt: 'aes', key: 'rxkcp example', dataShards: 10, parityShards: 3 } as const;

const server = await listenWorkers({
  listen: '127.0.0.1:0',
  ...options,
  idleTimeout: 30_000,
  workers,
  handler: new URL('./workers-echo-handler.ts', import.meta.url),
});
server.events$.subscribe((e) => e.type === 'exit' && console.log(`worker ${e.worker} exited (code ${e.code}): its sessions ended; starting another`));
const { address, port } = server.address;
console.log(`echo server on ${address}:${port}, ${workers} workers`);

// eight clients, each from its own port: the kernel spreads them over the workers
const size = 1024 * 1024;
await Promise.all(
  Array.from({ length: 8 }, async (_, i) => {
    const session = await dial({ connect: `${address}:${port}`, ...options });
    let back = 0;
    const done = new Promise<void>((resolve) =>
      session.data$.subscribe((m) => {
        back += m.length;
        if (back >= size) resolve();
      })
    );
    const chunk = new Uint8Array(16 * 1024).fill(i);
    for (let sent = 0; sent < size; sent += chunk.length) await session.send(chunk);
    await done;
    session.close();
  })
);

const stats = await server.stats();
for (const w of stats.workers) console.log(`worker ${w.worker}: ${w.counters.sessions ?? 0} sessions, ${w.snmp.BytesReceived} bytes echoed`);
console.log(`in all: ${stats.total.counters.sessions} sessions, ${stats.total.snmp.BytesReceived} bytes echoed, ${stats.total.snmp.RetransSegs} segments retransmitted`);
await server.close();
