/**
 * The smux session state machine (github.com/xtaci/smux 1.5, protocol versions 1 and 2), pure: it
 * reads the peer's bytes through `input`, says what happened through the `SmuxEvents` it is given,
 * and hands out the frames to send through `pull`, one at a time, when the caller's connection can
 * take them. Time comes in as an argument (`tick`).
 *
 * - Stream ids: a client opens 3, 5, 7, ...; a server 2, 4, 6, ... (smux counts from 1 and 0 and
 *   adds 2 before each open). When they run out, `open` throws SMUX_GOAWAY.
 * - Receive buffer (`maxReceiveBuffer`, kcptun's --smuxbuf): data received and not yet taken, over
 *   all streams. While it is used up, `readPaused` is true and the caller should stop reading the
 *   connection, as smux's receive loop stops.
 * - Version 2 flow control (`maxStreamBuffer`, kcptun's --streambuf): the sender keeps at most the
 *   peer's window (256 KiB until the peer's first UPD) of unacknowledged bytes per stream; the
 *   reader sends UPD(consumed, maxStreamBuffer) on its first read and then whenever half a
 *   stream buffer has been read since the last one, counting frame by frame as smux does.
 * - Keepalive: a NOP every `keepAliveInterval`; the session ends (IDLE_TIMEOUT) when a whole
 *   `keepAliveTimeout` passes with no frame received while the receive buffer has room.
 * - FIN ends the sender's data on a stream. `closeWrite` sends it after what is queued and keeps
 *   reading (half-close); `closeStream` sends it and stops reading, as smux's Stream.Close does.
 *   A stream is forgotten once both sides' FINs have passed (or, after `closeStream`, once its FIN is
 *   out).
 * - Version detection (`detectVersion`, for a server): the version byte of the peer's first frame
 *   (1 or 2, at most `version`) fixes the session's version, so one server takes smux v1 and v2
 *   clients, each session on its own. Until that frame the session sends nothing: a v1 peer ends
 *   the session on a frame of version 2 and the other way round.
 * - Frames the session cannot take (a version other than its own, an unknown command, an UPD of
 *   another size, SYN/FIN/NOP carrying bytes, an UPD acknowledging more than was sent) end it with
 *   SMUX_PROTOCOL. Frames for streams it does not know are dropped, as smux drops them.
 * @module
 */
import { KcpError } from '../errors.js';
import { CMD_FIN, CMD_NOP, CMD_PSH, CMD_SYN, CMD_UPD, SmuxFrameReader, SMUX_HEADER_SIZE, UPD_SIZE, writeSmuxHeader, type SmuxFrame } from './frame.js';

export interface SmuxConfig {
  /** Protocol version, 1 or 2 (default 1, kcptun's --smuxver); with `detectVersion`, the highest accepted. */
  version?: 1 | 2;
  /** Take the version from the peer's first frame (default false; see the module notes). */
  detectVersion?: boolean;
  /** No NOPs and no timeout. */
  keepAliveDisabled?: boolean;
  /** ms between NOPs (default 10000). */
  keepAliveInterval?: number;
  /** ms without a frame after which the session ends (default 30000). */
  keepAliveTimeout?: number;
  /** Largest payload per PSH frame (default 32768, at most 65535). */
  maxFrameSize?: number;
  /** Bytes received and not yet taken, over all streams (default 4 MiB). */
  maxReceiveBuffer?: number;
  /** Version 2: the window each stream advertises (default 65536; kcptun's default 2 MiB). */
  maxStreamBuffer?: number;
}

export type ResolvedSmuxConfig = Required<SmuxConfig>;

/** smux's defaults (smux.DefaultConfig). */
export const SMUX_DEFAULTS: ResolvedSmuxConfig = {
  version: 1,
  detectVersion: false,
  keepAliveDisabled: false,
  keepAliveInterval: 10_000,
  keepAliveTimeout: 30_000,
  maxFrameSize: 32768,
  maxReceiveBuffer: 4194304,
  maxStreamBuffer: 65536,
};

/** The window assumed for a version-2 peer until its first UPD. */
export const SMUX_INITIAL_PEER_WINDOW = 262144;

/** Fills in defaults and checks a config as smux's VerifyConfig does; throws `RangeError`. */
export function resolveSmuxConfig(c: SmuxConfig = {}): ResolvedSmuxConfig {
  const r: ResolvedSmuxConfig = { ...SMUX_DEFAULTS };
  for (const [k, v] of Object.entries(c)) if (v !== undefined) (r as Record<string, unknown>)[k] = v;
  if (r.version !== 1 && r.version !== 2) throw new RangeError(`smux: unsupported protocol version ${String(r.version)}`);
  if (!r.keepAliveDisabled) {
    if (!(r.keepAliveInterval > 0)) throw new RangeError('smux: keep-alive interval must be positive');
    if (r.keepAliveTimeout < r.keepAliveInterval) throw new RangeError('smux: keep-alive timeout must be larger than keep-alive interval');
  }
  const int = (name: keyof ResolvedSmuxConfig, v: number, max: number) => {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`smux: ${name} must be a positive integer, got ${v}`);
    if (v > max) throw new RangeError(`smux: ${name} must not be larger than ${max}, got ${v}`);
  };
  int('maxFrameSize', r.maxFrameSize, 65535);
  int('maxReceiveBuffer', r.maxReceiveBuffer, 2 ** 31 - 1);
  int('maxStreamBuffer', r.maxStreamBuffer, 2 ** 31 - 1);
  if (r.maxStreamBuffer > r.maxReceiveBuffer) throw new RangeError('smux: max stream buffer must not be larger than max receive buffer');
  return r;
}

/** What the session tells its owner, synchronously, from inside its own calls. */
export interface SmuxEvents {
  /** The peer opened stream `sid`. */
  accept(sid: number): void;
  /** Data or the peer's FIN is waiting on `sid`: call `take(sid)`. */
  readable(sid: number): void;
  /** Stream `sid` is forgotten: both FINs passed, or it was closed and its FIN went out, or the session ended. */
  removed(sid: number): void;
  /** The session ended: `error` is null after `close()`, else why. Called once. */
  closed(error: KcpError | null): void;
}

/** Counters of one session. */
export interface SmuxStats {
  framesIn: number;
  framesOut: number;
  /** PSH payload bytes received for known streams / sent. */
  bytesIn: number;
  bytesOut: number;
  /** Frames for streams the session does not know (smux drops them too). */
  framesDropped: number;
  streamsOpened: number;
  streamsAccepted: number;
  nopsIn: number;
  updsIn: number;
  updsOut: number;
}

interface StreamState {
  readonly sid: number;
  recv: Uint8Array[];
  recvBytes: number;
  remoteFin: boolean;
  eofTaken: boolean;
  send: Uint8Array[];
  sendOffset: number;
  sendBytes: number;
  finQueued: boolean;
  finSent: boolean;
  /** After close(): incoming data is dropped. */
  discard: boolean;
  // version 2
  numRead: number;
  incr: number;
  numWritten: number;
  peerConsumed: number;
  peerWindow: number;
}

/** What `take` returns: the data received since the last take, and whether the peer's FIN follows it. */
export interface SmuxTake {
  data: Uint8Array[];
  bytes: number;
  fin: boolean;
}

export class SmuxSession {
  readonly config: ResolvedSmuxConfig;
  readonly stats: SmuxStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    framesDropped: 0,
    streamsOpened: 0,
    streamsAccepted: 0,
    nopsIn: 0,
    updsIn: 0,
    updsOut: 0,
  };
  private readonly streams = new Map<number, StreamState>();
  private readonly reader = new SmuxFrameReader();
  /** Control frames (SYN, NOP, UPD) go out before any data; encoded when pulled, once the version is known. */
  private readonly control: Array<{ cmd: number; sid: number; data: Uint8Array | null }> = [];
  /** The session's protocol version: 0 until the peer's first frame decides it (`detectVersion`). */
  private ver: 0 | 1 | 2;
  /** Streams with something to send, in turn. */
  private readonly ready: StreamState[] = [];
  private readonly inReady = new Set<number>();
  private nextId: number;
  private goAway = false;
  private bucket: number;
  private dataReady = false;
  private nextPing: number;
  private nextCheck: number;
  private _closed = false;
  private _error: KcpError | null = null;
  private readonly frameSink = { next: (f: SmuxFrame) => this.frame(f) };

  constructor(
    readonly side: 'client' | 'server',
    private readonly events: SmuxEvents,
    config: SmuxConfig = {},
    now = 0
  ) {
    this.config = resolveSmuxConfig(config);
    this.ver = this.config.detectVersion ? 0 : this.config.version;
    this.nextId = side === 'client' ? 1 : 0;
    this.bucket = this.config.maxReceiveBuffer;
    this.nextPing = now + this.config.keepAliveInterval;
    this.nextCheck = now + this.config.keepAliveTimeout;
  }

  get closed(): boolean {
    return this._closed;
  }

  /** The protocol version in use: 0 while a detecting session waits for the peer's first frame. */
  get version(): 0 | 1 | 2 {
    return this.ver;
  }

  get error(): KcpError | null {
    return this._error;
  }

  /** True while the receive buffer is used up: stop reading the connection until data is taken. */
  get readPaused(): boolean {
    return this.bucket <= 0;
  }

  /** Bytes received and not yet taken, over all streams. */
  get buffered(): number {
    return this.config.maxReceiveBuffer - this.bucket;
  }

  /** Streams the session knows. */
  get size(): number {
    return this.streams.size;
  }

  has(sid: number): boolean {
    return this.streams.has(sid);
  }

  /** Bytes queued on `sid` and not yet handed out by `pull` (0 for an unknown stream). */
  queued(sid: number): number {
    return this.streams.get(sid)?.sendBytes ?? 0;
  }

  /** Whether `sid`'s FIN has yet to be pulled (false once it is out, or the stream is gone). */
  finPending(sid: number): boolean {
    const s = this.streams.get(sid);
    return s !== undefined && !s.finSent;
  }

  /** Whether there is a frame to `pull`. */
  get hasOutput(): boolean {
    if (this._closed || this.ver === 0) return false;
    if (this.control.length > 0) return true;
    for (const s of this.ready) if (this.sendable(s)) return true;
    return false;
  }

  /** Reads bytes from the peer. Never throws: a frame the session cannot take ends it (see `closed`). */
  input(data: Uint8Array): void {
    if (this._closed) return;
    this.reader.push(data, this.frameSink);
  }

  /** Opens a stream (SYN queued) and returns its id. Throws SMUX_GOAWAY when ids ran out, CLOSED after the end. */
  open(): number {
    this.assertOpen();
    if (this.goAway) throw new KcpError('SMUX_GOAWAY', 'smux: stream ids exhausted, start a new session');
    let sid = (this.nextId + 2) >>> 0;
    while (this.streams.has(sid) && sid > 1) sid = (sid + 2) >>> 0; // a peer may have used our parity
    if (sid <= 1) {
      this.goAway = true;
      throw new KcpError('SMUX_GOAWAY', 'smux: stream ids exhausted, start a new session');
    }
    this.nextId = sid;
    this.streams.set(sid, this.newStream(sid));
    this.control.push({ cmd: CMD_SYN, sid, data: null });
    this.stats.streamsOpened++;
    return sid;
  }

  /** Queues `data` on `sid` (held by reference: do not change it). Throws CLOSED if the stream's write side is closed. */
  write(sid: number, data: Uint8Array): void {
    this.assertOpen();
    const s = this.streams.get(sid);
    if (s === undefined || s.finQueued) throw new KcpError('CLOSED', `smux: write on closed stream ${sid}`);
    if (data.length === 0) return;
    s.send.push(data);
    s.sendBytes += data.length;
    this.schedule(s);
  }

  /** Half-close: FIN after what is queued; the stream still receives until the peer's FIN. Idempotent. */
  closeWrite(sid: number): void {
    const s = this.streams.get(sid);
    if (this._closed || s === undefined || s.finQueued) return;
    s.finQueued = true;
    this.schedule(s);
  }

  /** Close as smux's Stream.Close: FIN after what is queued, and drop whatever arrives from now on. Idempotent. */
  closeStream(sid: number): void {
    const s = this.streams.get(sid);
    if (this._closed || s === undefined) return;
    s.discard = true;
    this.release(s);
    if (!s.finQueued) {
      s.finQueued = true;
      this.schedule(s);
    } else if (s.finSent) this.remove(s);
  }

  /**
   * Takes what `sid` has received: the reader's consumption, which frees the receive buffer and,
   * in version 2, may queue an UPD. `fin` is true once, with or after the last data.
   */
  take(sid: number): SmuxTake {
    const s = this.streams.get(sid);
    if (s === undefined || this._closed) return { data: [], bytes: 0, fin: false };
    const data = s.recv;
    const bytes = s.recvBytes;
    s.recv = [];
    s.recvBytes = 0;
    this.bucket += bytes;
    if (this.ver === 2) {
      // chunk by chunk, as smux's WriteTo (what kcptun's copy loop uses) reads a stream
      for (const d of data) {
        s.numRead = (s.numRead + d.length) >>> 0;
        s.incr += d.length;
        if (s.incr >= this.config.maxStreamBuffer / 2 || s.numRead === d.length) {
          s.incr = 0;
          const upd = new Uint8Array(UPD_SIZE);
          writeU32(upd, 0, s.numRead);
          writeU32(upd, 4, this.config.maxStreamBuffer);
          this.control.push({ cmd: CMD_UPD, sid, data: upd });
          this.stats.updsOut++;
        }
      }
    }
    const fin = s.remoteFin && !s.eofTaken;
    if (fin) {
      s.eofTaken = true;
      if (s.finSent) this.remove(s);
    }
    return { data, bytes, fin };
  }

  /**
   * The next frame to write, or null when there is none (or none the peer's windows allow).
   * Control frames first, then one frame per stream in turn.
   */
  pull(): Uint8Array | null {
    if (this._closed || this.ver === 0) return null;
    const c = this.control.shift();
    if (c !== undefined) return this.sent(this.encode(c.cmd, c.sid, c.data));
    for (let n = this.ready.length; n > 0; n--) {
      const s = this.ready.shift()!;
      if (!this.streams.has(s.sid)) {
        this.inReady.delete(s.sid);
        continue;
      }
      let frame: Uint8Array | null = null;
      if (s.sendBytes > 0) {
        let room = this.config.maxFrameSize;
        if (this.ver === 2) room = Math.min(room, this.window(s));
        if (room > 0) frame = this.dataFrame(s, room);
      } else if (s.finQueued && !s.finSent) {
        s.finSent = true;
        frame = this.encode(CMD_FIN, s.sid, null);
        this.inReady.delete(s.sid);
        if (s.discard || s.eofTaken) this.remove(s);
        return this.sent(frame);
      }
      if (frame === null) {
        // blocked by the peer's window: wait for its UPD
        this.ready.push(s);
        continue;
      }
      if (s.sendBytes > 0 || (s.finQueued && !s.finSent)) this.ready.push(s);
      else this.inReady.delete(s.sid);
      return this.sent(frame);
    }
    return null;
  }

  /**
   * Keepalive at clock time `now` (ms): queues a NOP when one is due, ends the session when a
   * whole timeout passed with nothing received. Returns the next time to call it (Infinity when
   * keepalive is off or the session ended).
   */
  tick(now: number): number {
    if (this._closed || this.config.keepAliveDisabled) return Infinity;
    if (now >= this.nextPing) {
      if (this.ver !== 0) this.control.push({ cmd: CMD_NOP, sid: 0, data: null }); // no NOP before the version is known
      const iv = this.config.keepAliveInterval;
      this.nextPing += Math.max(1, Math.ceil((now + 1 - this.nextPing) / iv)) * iv;
    }
    if (now >= this.nextCheck) {
      const to = this.config.keepAliveTimeout;
      this.nextCheck += Math.max(1, Math.ceil((now + 1 - this.nextCheck) / to)) * to;
      if (this.dataReady) this.dataReady = false;
      else if (this.bucket > 0) {
        // a full receive buffer stops reading, which must not count as silence
        this.end(new KcpError('IDLE_TIMEOUT', `smux: nothing received for ${to} ms`));
        return Infinity;
      }
    }
    return Math.min(this.nextPing, this.nextCheck);
  }

  /** Ends the session (every stream is forgotten). Idempotent. */
  close(): void {
    this.end(null);
  }

  /** Ends the session with an error from outside (the connection failed). */
  fail(error: KcpError): void {
    this.end(error);
  }

  private end(error: KcpError | null): void {
    if (this._closed) return;
    this._closed = true;
    this._error = error;
    this.control.length = 0;
    this.ready.length = 0;
    this.inReady.clear();
    const sids = [...this.streams.keys()];
    this.streams.clear();
    for (const sid of sids) this.events.removed(sid);
    this.events.closed(error);
  }

  private protocolError(message: string): void {
    this.end(new KcpError('SMUX_PROTOCOL', `smux: ${message}`));
  }

  private frame(f: SmuxFrame): void {
    if (this._closed) return;
    this.dataReady = true;
    this.stats.framesIn++;
    if (this.ver === 0) {
      if (f.version < 1 || f.version > this.config.version) return this.protocolError(`first frame of version ${f.version}, this session takes 1..${this.config.version}`);
      this.ver = f.version as 1 | 2;
    }
    if (f.version !== this.ver) return this.protocolError(`frame of version ${f.version} on a version ${this.ver} session`);
    const s = this.streams.get(f.sid);
    switch (f.cmd) {
      case CMD_NOP:
        if (f.data.length !== 0) return this.protocolError(`NOP carrying ${f.data.length} bytes`);
        this.stats.nopsIn++;
        return;
      case CMD_SYN:
        if (f.data.length !== 0) return this.protocolError(`SYN carrying ${f.data.length} bytes`);
        if (s !== undefined) return; // smux ignores a SYN for a stream it has
        this.streams.set(f.sid, this.newStream(f.sid));
        this.stats.streamsAccepted++;
        this.events.accept(f.sid);
        return;
      case CMD_FIN:
        if (f.data.length !== 0) return this.protocolError(`FIN carrying ${f.data.length} bytes`);
        if (s === undefined) return void this.stats.framesDropped++;
        if (s.remoteFin) return;
        s.remoteFin = true;
        if (s.discard) return;
        this.events.readable(f.sid);
        return;
      case CMD_PSH:
        if (f.data.length === 0) return;
        if (s === undefined || s.discard || s.remoteFin) return void this.stats.framesDropped++;
        s.recv.push(f.data);
        s.recvBytes += f.data.length;
        this.bucket -= f.data.length;
        this.stats.bytesIn += f.data.length;
        this.events.readable(f.sid);
        return;
      case CMD_UPD: {
        if (f.data.length !== UPD_SIZE) return this.protocolError(`UPD of ${f.data.length} bytes`);
        this.stats.updsIn++;
        if (s === undefined) return void this.stats.framesDropped++;
        const d = f.data;
        s.peerConsumed = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
        s.peerWindow = (d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24)) >>> 0;
        if (((s.numWritten - s.peerConsumed) | 0) < 0) return this.protocolError(`peer consumed more than was sent on stream ${f.sid}`);
        return;
      }
      default:
        return this.protocolError(`unknown command ${f.cmd}`);
    }
  }

  /** Version 2: bytes the peer's window still allows on `s`. */
  private window(s: StreamState): number {
    const inflight = (s.numWritten - s.peerConsumed) | 0;
    return (s.peerWindow | 0) - inflight;
  }

  private sendable(s: StreamState): boolean {
    if (!this.streams.has(s.sid)) return false;
    if (s.sendBytes > 0) return this.ver === 1 || this.window(s) > 0;
    return s.finQueued && !s.finSent;
  }

  private dataFrame(s: StreamState, room: number): Uint8Array {
    const size = Math.min(room, s.sendBytes);
    const out = new Uint8Array(SMUX_HEADER_SIZE + size);
    writeSmuxHeader(out, 0, this.ver, CMD_PSH, size, s.sid);
    let o = SMUX_HEADER_SIZE;
    while (o < out.length) {
      const head = s.send[0]!;
      const n = Math.min(head.length - s.sendOffset, out.length - o);
      out.set(head.subarray(s.sendOffset, s.sendOffset + n), o);
      o += n;
      s.sendOffset += n;
      if (s.sendOffset === head.length) {
        s.send.shift();
        s.sendOffset = 0;
      }
    }
    s.sendBytes -= size;
    s.numWritten = (s.numWritten + size) >>> 0;
    this.stats.bytesOut += size;
    return out;
  }

  private sent(frame: Uint8Array): Uint8Array {
    this.stats.framesOut++;
    return frame;
  }

  private schedule(s: StreamState): void {
    if (this.inReady.has(s.sid)) return;
    this.inReady.add(s.sid);
    this.ready.push(s);
  }

  /** Gives back the receive buffer a stream holds. */
  private release(s: StreamState): void {
    this.bucket += s.recvBytes;
    s.recv = [];
    s.recvBytes = 0;
  }

  private remove(s: StreamState): void {
    if (this.streams.get(s.sid) !== s) return;
    this.release(s);
    this.streams.delete(s.sid);
    this.inReady.delete(s.sid);
    this.events.removed(s.sid);
  }

  private newStream(sid: number): StreamState {
    return {
      sid,
      recv: [],
      recvBytes: 0,
      remoteFin: false,
      eofTaken: false,
      send: [],
      sendOffset: 0,
      sendBytes: 0,
      finQueued: false,
      finSent: false,
      discard: false,
      numRead: 0,
      incr: 0,
      numWritten: 0,
      peerConsumed: 0,
      peerWindow: SMUX_INITIAL_PEER_WINDOW,
    };
  }

  private encode(cmd: number, sid: number, data: Uint8Array | null): Uint8Array {
    const n = data?.length ?? 0;
    const out = new Uint8Array(SMUX_HEADER_SIZE + n);
    writeSmuxHeader(out, 0, this.ver, cmd, n, sid);
    if (data) out.set(data, SMUX_HEADER_SIZE);
    return out;
  }

  private assertOpen(): void {
    if (this._error) throw this._error;
    if (this._closed) throw new KcpError('CLOSED', 'smux: session closed');
  }
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = v >>> 24;
}
