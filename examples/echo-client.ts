/**
 * An rxkcp echo client: sends a few lines and prints what comes back, then exits.
 * Start examples/echo-server.ts first.
 *
 *   npx tsx examples/echo-client.ts [HOST:PORT] [key]
 */
import { firstValueFrom, take, toArray } from 'rxjs';
import { dial } from 'rxkcp/io';

const connect = process.argv[2] ?? '127.0.0.1:4000';
const key = process.argv[3] ?? 'rxkcp example';
// failFast: a refusal (nothing listening there) ends the session at once instead of retrying
const session = await dial({ connect, mode: 'fast3', crypt: 'aes', key, dataShards: 10, parityShards: 3, failFast: true });
const lines = ['hello over KCP', 'with AES and FEC 10/3', 'as kcp-go would send it'];
const replies = firstValueFrom(session.data$.pipe(take(lines.length), toArray())).catch((e: Error) => {
  console.error(`no echo: ${e.message}`);
  process.exit(1);
});
for (const line of lines) await session.send(new TextEncoder().encode(line));
for (const reply of (await replies) as Uint8Array[]) console.log(`echo: ${new TextDecoder().decode(reply)}`);
console.log(`rtt ${session.conversation.kcp.rxSrtt} ms`);
session.close();
process.exit(0);
