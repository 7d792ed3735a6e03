import { createSocket } from 'node:dgram';
import type { Observable } from 'rxjs';
import type { PatternVerifier } from '../../operators/io/pattern.js';

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
