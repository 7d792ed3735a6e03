/**
 * One client process of bench:workers' quiet-session load: `tsx bench/quiet-client.ts PORT N
 * WARMUP_MS SECONDS EVERY_MS` dials N quiet sessions to 127.0.0.1:PORT (bench/quiet-sessions.ts),
 * prints `{"opened":N}`, waits for a `start` line on stdin, runs the load (every session 64 bytes
 * every EVERY_MS, echoes timed for SECONDS after WARMUP_MS) and prints one JSON line: the echo round trips
 * (ms, sorted), the sends against the schedule and this process's event-loop delay, so that the
 * parent can tell a server's latency from a client that could not keep up.
 * @module
 */
import { createInterface } from 'node:readline';
import { openSessions, quietLoad } from './quiet-sessions.js';

const [port, n, warmupMs, seconds, everyMs] = process.argv.slice(2).map(Number);
if (![port, n, warmupMs, seconds, everyMs].every((x) => Number.isFinite(x) && x! >= 0) || everyMs === 0) {
  console.error('usage: tsx bench/quiet-client.ts PORT N WARMUP_MS SECONDS EVERY_MS');
  process.exit(2);
}
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const sessions = await openSessions(port!, n!);
console.log(JSON.stringify({ opened: sessions.length }));
for (;;) {
  // wait for every client to have opened its sessions
  const line = await lines.next();
  if (line.done) process.exit(1); // the parent went away
  if ((line.value as string).trim() === 'start') break;
}
const load = await quietLoad(sessions, undefined, seconds!, warmupMs!, everyMs!);
const { serverCpu: _cpu, serverRss: _rss, ...result } = load;
for (const s of sessions) s.close();
// the line is large (every round trip): exit only once the pipe has taken all of it, or the
// parent reads a truncated line
process.stdout.write(`${JSON.stringify({ result: { ...result, latencies: load.latencies.map((x) => Math.round(x * 100) / 100) } })}\n`, () => process.exit(0));
