import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { literalLookup } from '../operators/transport/udp.js';

describe('literalLookup (the listener socket\'s lookup)', () => {
  it('answers IP literals synchronously with their family, and names through dns.lookup', async () => {
    const got: unknown[] = [];
    literalLookup('127.0.0.1', 4, (err, address, family) => got.push([err, address, family]));
    literalLookup('::1', 6, (err, address, family) => got.push([err, address, family]));
    expect(got).toEqual([
      [null, '127.0.0.1', 4],
      [null, '::1', 6],
    ]);
    const name = await new Promise<[string, number]>((resolve, reject) =>
      literalLookup('localhost', 4, (err, address, family) => (err ? reject(err) : resolve([address, family])))
    );
    expect(name).toEqual(['127.0.0.1', 4]);
  });

  it('a socket built with it binds, sends to an address and receives on 127.0.0.1', async () => {
    const rx = createSocket('udp4');
    const tx = createSocket({ type: 'udp4', lookup: literalLookup });
    try {
      await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
      await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
      const got = new Promise<string>((r) => rx.once('message', (m) => r(m.toString())));
      const sent = new Promise<Error | null>((r) => tx.send(Buffer.from('hello'), rx.address().port, '127.0.0.1', (e) => r(e)));
      expect(await sent).toBeNull();
      expect(await got).toBe('hello');
    } finally {
      rx.close();
      tx.close();
    }
  });
});
