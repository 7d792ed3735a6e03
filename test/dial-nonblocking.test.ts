/**
 * Key derivation must not stall the process: kcptun's PBKDF2 (4,096 rounds of HMAC-SHA1) costs
 * about 18 ms in JavaScript, so deriving it inside `dial()` froze every other session for that
 * long per dial. On Node it runs in node:crypto's thread pool; the keys must be byte-identical
 * to the JavaScript derivation (and so to kcp-go's). Both PBKDF2 implementations are wrapped
 * here to count how often each runs.
 */
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import vectors from './vectors/kcp-go-vectors.json' with { type: 'json' };
import { dial } from '../operators/transport/dial.js';
import { echo } from '../operators/apps/echo.js';
import { Listener } from '../operators/transport/listener.js';
import type { Session } from '../operators/transport/session.js';
import { deriveKey } from '../src/crypt/crypt.js';
import { deriveKeyAsync } from '../src/node/crypt.js';

const counts = vi.hoisted(() => ({ js: 0, native: 0 }));
vi.mock('@noble/hashes/pbkdf2.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('@noble/hashes/pbkdf2.js')>();
  return { ...m, pbkdf2: ((...a: Parameters<typeof m.pbkdf2>) => (counts.js++, m.pbkdf2(...a))) as typeof m.pbkdf2 };
});
vi.mock('node:crypto', async (importOriginal) => {
  const m = await importOriginal<typeof import('node:crypto')>();
  const pbkdf2 = (...a: Parameters<typeof m.pbkdf2>) => (counts.native++, m.pbkdf2(...a));
  return { ...m, pbkdf2, default: { ...m, pbkdf2 } };
});

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** Runs `work` while a 5 ms interval records the longest gap between its ticks (ms). */
async function longestGap<T>(work: () => Promise<T>): Promise<{ result: T; gap: number }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 5);
  try {
    await new Promise((r) => setTimeout(r, 20)); // the interval is running before the work starts
    const result = await work();
    await new Promise((r) => setTimeout(r, 20)); // and sees the loop after it
    return { result, gap: Math.max(gap, performance.now() - last) };
  } finally {
    clearInterval(timer);
  }
}

describe('dial() and key derivation', () => {
  it('200 concurrent dials, each with its own password, keep the event loop turning; one of them talks to a listener', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', crypt: 'aes', key: 'pw-17' });
    cleanup.push(() => l.close());
    l.sessions$.subscribe((s) => echo(s));
    const jsBefore = counts.js;
    const { result: sessions, gap } = await longestGap(() =>
      Promise.all(Array.from({ length: 200 }, (_, i) => dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'aes', key: `pw-${i}` })))
    );
    cleanup.push(() => sessions.forEach((s) => s.close()));
    console.log(`200 dials with distinct passwords: longest event-loop gap ${gap.toFixed(0)} ms`);
    expect(gap).toBeLessThan(500); // deriving in JavaScript on the loop took ~3,600 ms here
    expect(counts.js - jsBefore).toBe(0); // none derived on the loop
    const s = sessions[17]!;
    s.write(new TextEncoder().encode('same key both ends'));
    expect(new TextDecoder().decode(await firstValueFrom(s.data$))).toBe('same key both ends');
  });

  it('200 concurrent dials with one password derive its key once', async () => {
    const nativeBefore = counts.native;
    const sessions: Session[] = await Promise.all(Array.from({ length: 200 }, () => dial({ connect: '127.0.0.1:9', crypt: 'salsa20', key: 'shared by all' })));
    cleanup.push(() => sessions.forEach((s) => s.close()));
    expect(counts.native - nativeBefore).toBe(1);
  });

  it('a dial with crypt none or null derives nothing, password or not', async () => {
    const before = { ...counts };
    for (const crypt of ['none', 'null'] as const) {
      const s = await dial({ connect: '127.0.0.1:9', crypt, key: `unused by ${crypt}` });
      s.close();
    }
    const s = await dial({ connect: '127.0.0.1:9', crypt: 'none' });
    s.close();
    expect(counts).toEqual(before);
  });

  it("the asynchronous derivation gives kcp-go's key for the vectors' password, and the JavaScript derivation's for others", async () => {
    const vector = vectors.captured_sessions[0]!;
    expect(hex(await deriveKeyAsync(vector.password))).toBe(vector.key_hex);
    expect(hex(deriveKey(vector.password))).toBe(vector.key_hex);
    for (const password of ['', "it's a secrect", 'ünïcödé 🔑', 'x'.repeat(200)]) {
      expect(hex(await deriveKeyAsync(password)), password).toBe(hex(deriveKey(password)));
    }
  });

  it('a derived key handed out is a copy: changing it does not change the next one', async () => {
    const a = await deriveKeyAsync('copy me');
    a.fill(0);
    expect(hex(await deriveKeyAsync('copy me'))).toBe(hex(deriveKey('copy me')));
  });
});
