/**
 * Sends a file to a receiver over rxkcp, each in a process of its own; both exit by themselves
 * once the file has arrived.
 *
 *   npx tsx examples/send-file.ts receive 127.0.0.1:4000 copy.bin   # waits for one file, writes it, exits
 *   npx tsx examples/send-file.ts send 127.0.0.1:4000 file.bin       # sends it, exits once it has arrived
 *
 * KCP carries bytes but has no end of stream of its own, so the file travels on a stream of smux,
 * the multiplexer kcptun runs over KCP: its FIN ends the receiver's stream, which ends the
 * receiver's `pipeline`. The same receiver takes a file from a kcptun client (`kcptun-client
 * --nocomp`, the same key, crypt and FEC) and this sender can send to a kcptun server's target.
 * RXKCP_KEY sets the key (kcptun's `--key`).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { firstValueFrom } from 'rxjs';
import { Mux } from 'rxkcp';
import { dial, Listener, muxStreamDuplex, type SessionOptions } from 'rxkcp/io';

const [role, address, file] = process.argv.slice(2);
if ((role !== 'send' && role !== 'receive') || !address || !file) {
  console.error('usage: send-file.ts receive HOST:PORT OUTPUT | send HOST:PORT FILE');
  process.exit(2);
}
const options: SessionOptions = { mode: 'fast3', crypt: 'aes', key: process.env.RXKCP_KEY ?? 'rxkcp example', dataShards: 10, parityShards: 3 };

if (role === 'receive') {
  const server = await Listener.listen({ listen: address, ...options, maxSessions: 16, idleTimeout: 60_000 });
  console.log(`receiving on ${server.address.address}:${server.address.port}`);
  const session = await firstValueFrom(server.sessions$);
  const stream = await firstValueFrom(new Mux(session, { side: 'server' }).streams$);
  await pipeline(muxStreamDuplex(stream), createWriteStream(file)); // ends at the sender's FIN
  console.log(`${file}: ${session.stats.BytesReceived} bytes received`);
  session.close(); // lingers to acknowledge what the sender may still retransmit
  await firstValueFrom(session.ended$);
  server.close();
} else {
  const session = await dial({ connect: address, ...options });
  const mux = new Mux(session, { side: 'client' });
  await pipeline(createReadStream(file), muxStreamDuplex(mux.open())); // resolves once the peer has every byte
  console.log(`${file}: ${session.stats.BytesSent} bytes sent and acknowledged`);
  mux.close(); // and the session under it
}
