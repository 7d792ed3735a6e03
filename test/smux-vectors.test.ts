/**
 * The smux sessions captured from Go's github.com/xtaci/smux (test/vectors/kcptun): rxkcp's
 * session reads what Go's client and server wrote, and playing the same script it writes the
 * same bytes, frame for frame, plain and under the snappy stream kcptun puts around smux.
 */
import { describe, expect, it } from 'vitest';
import captures from './vectors/kcptun/captures.json' with { type: 'json' };
import { KcpError } from '../src/errors.js';
import { CollectSink } from '../src/sink.js';
import { CMD_FIN, CMD_NOP, CMD_PSH, CMD_SYN, CMD_UPD, SmuxFrameReader, type SmuxFrame } from '../src/smux/frame.js';
import { SmuxSession, type SmuxEvents } from '../src/smux/mux.js';
import { SnappyFrameDecoder, SnappyFrameEncoder } from '../src/snappy/framing.js';
import { toHex } from '../src/wire/bytes.js';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function plain(wire: Uint8Array, compressed: boolean): Uint8Array {
  if (!compressed) return wire;
  const out = new CollectSink<Uint8Array>();
  expect(new SnappyFrameDecoder().push(wire, out)).toBeNull();
  return concat(out.items);
}

function parse(bytes: Uint8Array): SmuxFrame[] {
  const out = new CollectSink<SmuxFrame>();
  const r = new SmuxFrameReader();
  r.push(bytes, out);
  expect(r.atBoundary).toBe(true);
  return out.items;
}

class Recorder implements SmuxEvents {
  accepted: number[] = [];
  readableSids: number[] = [];
  ended: KcpError | null | undefined;
  constructor(private readonly onAccept?: (sid: number) => void) {}
  accept(sid: number): void {
    this.accepted.push(sid);
    this.onAccept?.(sid);
  }
  readable(sid: number): void {
    this.readableSids.push(sid);
  }
  removed(): void {}
  closed(e: KcpError | null): void {
    this.ended = e;
  }
}

describe("smux sessions captured from Go's smux 1.5.16", () => {
  for (const c of captures.smux_sessions) {
    const version = c.version as 1 | 2;
    const c2s = plain(b64(c.client_to_server_b64), c.compressed);
    const s2c = plain(b64(c.server_to_client_b64), c.compressed);
    const payloads = c.payloads_b64.map(b64);

    it(`${c.name}: Go's frames parse as the script says (ids, commands, payloads, FINs)`, () => {
      const fc = parse(c2s);
      const fs = parse(s2c);
      for (const f of [...fc, ...fs]) expect(f.version).toBe(version);
      const cmds = new Set([...fc, ...fs].map((f) => f.cmd));
      expect(cmds.has(CMD_UPD)).toBe(version === 2);
      expect(fc.filter((f) => f.cmd === CMD_SYN).map((f) => f.sid)).toEqual([3, 5]);
      expect(fs.filter((f) => f.cmd === CMD_SYN).map((f) => f.sid)).toEqual([2]);
      expect(fc.filter((f) => f.cmd === CMD_FIN).map((f) => f.sid)).toEqual([3, 2, 5]);
      expect(fs.filter((f) => f.cmd === CMD_FIN).map((f) => f.sid)).toEqual([3, 2, 5]);
      // the 33000-byte write went out as a full 32768-byte frame and the rest, or, once the peer
      // announced a 16 KiB window, a window at a time
      const cut = version === 2 && c.max_stream_buffer === 16384 ? [100, 16384, 16384, 232] : [100, 32768, 232];
      expect(fc.filter((f) => f.cmd === CMD_PSH && f.sid === 3).map((f) => f.data.length)).toEqual(cut);
      if (c.name.includes('keepalive')) {
        const nops = [...fc, ...fs].filter((f) => f.cmd === CMD_NOP);
        expect(nops.length).toBeGreaterThan(0);
        for (const n of nops) expect([n.sid, n.data.length]).toEqual([0, 0]);
      }
    });

    it(`${c.name}: rxkcp reads Go's bytes: accepts, data and FINs per stream, no error`, () => {
      // what Go's server wrote, so the client's UPDs acknowledge bytes this server sent
      const server = new Recorder((sid) => {
        if (sid === 3) ss.write(3, payloads[1]!);
        while (ss.pull());
      });
      const ss: SmuxSession = new SmuxSession('server', server, { version, maxStreamBuffer: c.max_stream_buffer, keepAliveDisabled: true });
      expect(ss.open()).toBe(2);
      ss.write(2, payloads[4]!);
      while (ss.pull());
      for (let o = 0; o < c2s.length; o += 777) ss.input(c2s.subarray(o, o + 777));
      expect(server.ended).toBeUndefined();
      expect(server.accepted).toEqual([3, 5]);
      const on3 = ss.take(3);
      expect(toHex(concat(on3.data))).toBe(toHex(concat([payloads[0]!, payloads[2]!])));
      expect(on3.fin).toBe(true);
      const on5 = ss.take(5);
      expect(toHex(concat(on5.data))).toBe(toHex(payloads[3]!));
      expect(on5.fin).toBe(true);

      const client = new Recorder();
      const cs = new SmuxSession('client', client, { version, maxStreamBuffer: c.max_stream_buffer, keepAliveDisabled: true });
      expect([cs.open(), cs.open()]).toEqual([3, 5]);
      // what Go's client wrote, so the server's UPDs acknowledge bytes this client sent
      cs.write(3, payloads[0]!);
      cs.write(3, payloads[2]!);
      cs.write(5, payloads[3]!);
      while (cs.pull());
      cs.input(s2c);
      expect(client.ended).toBeUndefined();
      expect(client.accepted).toEqual([2]);
      expect(toHex(concat(cs.take(3).data))).toBe(toHex(payloads[1]!));
      const on2 = cs.take(2);
      expect(toHex(concat(on2.data))).toBe(toHex(payloads[4]!));
      expect(on2.fin).toBe(true);
    });

    if (c.name.includes('keepalive')) continue; // NOPs come when the clock says: not replayable
    it(`${c.name}: playing the script, rxkcp's client and server write Go's exact bytes${c.compressed ? ' (snappy framed as kcptun does)' : ''}`, () => {
      const sides = {
        client: { rec: new Recorder(), out: [] as Uint8Array[], enc: new SnappyFrameEncoder() },
        server: { rec: new Recorder(), out: [] as Uint8Array[], enc: new SnappyFrameEncoder() },
      };
      const cfg = { version, maxStreamBuffer: c.max_stream_buffer, keepAliveDisabled: true };
      const sess = { client: new SmuxSession('client', sides.client.rec, cfg), server: new SmuxSession('server', sides.server.rec, cfg) };
      const settle = () => {
        for (;;) {
          const a = sess.client.pull();
          if (a) {
            sides.client.out.push(c.compressed ? sides.client.enc.encode(a) : a);
            sess.server.input(a);
          }
          const b = sess.server.pull();
          if (b) {
            sides.server.out.push(c.compressed ? sides.server.enc.encode(b) : b);
            sess.client.input(b);
          }
          if (!a && !b) return;
        }
      };
      let p = 0;
      for (const step of c.script) {
        const [who, action, sidText, arg] = step.split(':') as [keyof typeof sess, string, string, string];
        const sid = Number(sidText);
        const s = sess[who];
        switch (action) {
          case 'open':
            expect(s.open()).toBe(sid);
            break;
          case 'accept':
            expect(sides[who].rec.accepted).toContain(sid);
            break;
          case 'write':
            expect(payloads[p]!.length).toBe(Number(arg));
            s.write(sid, payloads[p++]!);
            break;
          case 'read': {
            // as io.ReadFull: read what is there, let the window move, until the count is reached
            let got = 0;
            for (let i = 0; i < 100 && got < Number(arg); i++) {
              got += s.take(sid).bytes;
              settle();
            }
            expect(got).toBe(Number(arg));
            break;
          }
          case 'close':
            s.take(sid); // Go read the EOF first where the script says so
            s.closeStream(sid);
            break;
          default:
            throw new Error(`unknown step ${step}`);
        }
        settle();
      }
      expect(toHex(concat(sides.client.out))).toBe(toHex(b64(c.client_to_server_b64)));
      expect(toHex(concat(sides.server.out))).toBe(toHex(b64(c.server_to_client_b64)));
    });
  }
});
