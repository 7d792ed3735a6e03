import { createSocket } from 'node:dgram';
import { firstValueFrom, type Observable } from 'rxjs';
import { dial } from '../../operators/transport/dial.js';
import { Listener, type ListenOptions } from '../../operators/transport/listener.js';
import type { Session } from '../../operators/transport/session.js';
import type { PatternVerifier } from '../../operators/testing/pattern.js';

/** Whether a UDP port on 127.0.0.1 can be bound (its last socket is closed). */
export async function portFree(port: number): Promise<boolean> {
  const probe = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.bind(port, '127.0.0.1', () => resolve(true));
  });
  probe.close();
  return ok;
}

/** Reads `data$` into `verifier` until it holds `total` bytes; rejects on a mismatch or an error. */
export function readVerified(data$: Observable<Uint8Array>, verifier: PatternVerifier, total: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sub = data$.subscribe({
      next: (m) => {
        if (!verifier.push(m)) reject(new Error(verifier.error!));
        if (verifier.offset >= total) {
          sub.unsubscribe();
          resolve();
        }
      },
      error: reject,
    });
  });
}

/**
 * A listener and a dialled session over 127.0.0.1 with `options`; the server side is handed out
 * once it has heard (and read) the client's first byte. Teardowns go to `cleanup`.
 */
export async function sessionPair(options: ListenOptionsOnly, cleanup: (() => void)[]): Promise<{ client: Session; server: Session }> {
  const l = await Listener.listen({ listen: '127.0.0.1:0', ...options });
  cleanup.push(() => l.close());
  const server = firstValueFrom(l.sessions$);
  const client = await dial({ connect: `127.0.0.1:${l.address.port}`, ...options });
  cleanup.push(() => client.close({ linger: false }));
  await client.send(new Uint8Array([0])); // the listener creates the session on first contact
  const s = await server;
  cleanup.push(() => s.close({ linger: false }));
  const hello = await s[Symbol.asyncIterator]().next();
  if (hello.done || hello.value.length !== 1 || hello.value[0] !== 0) throw new Error('the first byte did not arrive as sent');
  return { client, server: s };
}

type ListenOptionsOnly = Omit<ListenOptions, 'listen'>;
