/**
 * An rxkcp echo server: every session echoes what it receives, with back-pressure through Node
 * streams. Prints each session's counters when it ends.
 *
 *   npx tsx examples/echo-server.ts [HOST:PORT] [key]
 */
import { Listener, toDuplex } from 'rxkcp/io';

const listen = process.argv[2] ?? '127.0.0.1:4000';
const key = process.argv[3] ?? 'rxkcp example';
const server = await Listener.listen({ listen, mode: 'fast3', crypt: 'aes', key, dataShards: 10, parityShards: 3, idleTimeout: 30_000 });
console.log(`echo server on ${server.address.address}:${server.address.port} (aes, FEC 10/3); Ctrl-C to stop`);
server.sessions$.subscribe((session) => {
  const from = `${session.remote.address}:${session.remote.port}`;
  console.log(`session ${session.conv} from ${from}`);
  const stream = toDuplex(session);
  stream.on('error', (e) => console.log(`session ${session.conv} ended: ${e.message}`));
  stream.pipe(stream);
  session.ended$.subscribe(({ reason }) => console.log(`session ${session.conv} ended (${reason}): ${session.stats.BytesReceived} bytes echoed, ${session.stats.RetransSegs} retransmitted`));
});
process.on('SIGINT', () => {
  server.close();
  process.exit(0);
});
