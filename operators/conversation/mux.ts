/**
 * smux over any duplex byte stream (a KCP session, or one wrapped by `compressDuplex`): many
 * streams, each an observable of what the peer sent and a `write` with back-pressure, as kcptun's
 * client and server multiplex TCP connections.
 *
 *     transport.data$: -f0-f1--f2-|      smux frames in any pieces
 *     mux.streams$:    -s3-----s5-|      streams the peer opened
 *     s3.data$:        ---d0-d1-|        its data; completes at the peer's FIN
 *
 * Back-pressure: a stream's data waits in the mux while its `data$` has no subscriber (which
 * holds the peer back through smux's receive buffer and, in version 2, the stream's window); the
 * mux stops reading the transport while its receive buffer is used up. `write` refuses (accepting
 * nothing) while a stream has `streamHighWater` bytes queued: wait for `writable$`. Frames go to
 * the transport as it takes them, control frames first, then one data frame per stream in turn.
 *
 * The keepalive runs on the scheduler (virtual time in tests). The mux ends when the peer breaks
 * the protocol (SMUX_PROTOCOL), the keepalive times out (IDLE_TIMEOUT), the transport ends, or on
 * `close()`; then it closes the transport, and every stream not yet at its end errors.
 * @module
 */
import { asyncScheduler, Observable, Subject, Subscription, takeWhile, type SchedulerLike, type Subscriber } from 'rxjs';
import { KcpError, type KcpErrorCode } from '../../src/errors.js';
import { SmuxSession, type SmuxConfig, type SmuxEvents, type SmuxStats } from '../../src/smux/mux.js';

/** What the mux runs over: a KCP `Session` has this shape. */
export interface ByteDuplex {
  /** Bytes from the peer. Unsubscribing pauses reading; subscribing again resumes where it left off. */
  readonly data$: Observable<Uint8Array>;
  /** Queues bytes; false accepts nothing: wait for `writable$`. */
  write(data: Uint8Array): boolean;
  /** Emits when a refused write may be retried. */
  readonly writable$: Observable<void>;
  close(): void;
  /**
   * Resolves once the peer has acknowledged everything written so far (a `Session` has it); what
   * `MuxStream.finish` waits for after its FIN has gone to the transport.
   */
  drain?(): Promise<void>;
}

export interface MuxOptions extends SmuxConfig {
  /** 'client' opens odd stream ids, 'server' even ones (kcptun's client dials, its server listens). */
  side: 'client' | 'server';
  /** Keepalive timing (default asyncScheduler). */
  scheduler?: SchedulerLike;
  /** Bytes a stream may have queued before `write` refuses (default 65536). */
  streamHighWater?: number;
  /** Streams the peer opened that wait for a `streams$` subscriber (default 1024, as smux); more are closed. */
  acceptBacklog?: number;
}

/**
 * Codes a mux ends with because of what its peer or the network did, not a local fault: a bad
 * frame or snappy chunk, the smux or session keepalive timing out, the session under it ended by
 * its peer (reset, idle timeout: the transport completes, SOCKET_CLOSED). Its streams then
 * complete, as at a FIN; any other end (the mux closed here, a transport that failed) errors them.
 */
const PEER_ENDS: ReadonlySet<KcpErrorCode> = new Set<KcpErrorCode>(['SMUX_PROTOCOL', 'SNAPPY_CORRUPT', 'IDLE_TIMEOUT', 'KEEPALIVE_TIMEOUT', 'SOCKET_CLOSED', 'RESET']);

export class Mux {
  readonly session: SmuxSession;
  readonly scheduler: SchedulerLike;
  readonly highWater: number;
  /** Streams the peer opened and the mux closed because nobody took them. */
  refusedStreams = 0;
  private readonly byId = new Map<number, MuxStream>();
  private readonly backlog: MuxStream[] = [];
  private readonly acceptBacklog: number;
  private readonly accepted = new Subject<MuxStream>();
  private readonly ended = new Subject<KcpError | null>();
  private acceptors = 0;
  private reading: Subscription | null = null;
  private held: Uint8Array | null = null;
  private waitingWritable: Subscription | null = null;
  private pumping = false;
  private pumpAgain = false;
  private timer: Subscription | null = null;
  readonly blocked = new Set<MuxStream>();
  /** Streams whose `finish` waits for their FIN to leave, with what to call then. */
  private readonly finishing = new Map<MuxStream, () => void>();

  constructor(
    readonly transport: ByteDuplex,
    options: MuxOptions
  ) {
    if (options.side !== 'client' && options.side !== 'server') throw new TypeError(`mux: side must be 'client' or 'server', got ${String(options.side)}`);
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.highWater = options.streamHighWater ?? 65536;
    if (!(this.highWater > 0)) throw new RangeError(`mux: streamHighWater must be > 0, got ${this.highWater}`);
    this.acceptBacklog = options.acceptBacklog ?? 1024;
    const events: SmuxEvents = {
      accept: (sid) => this.onAccept(sid),
      readable: (sid) => this.byId.get(sid)?.onReadable(),
      removed: (sid) => this.onRemoved(sid),
      closed: (error) => this.onClosed(error),
    };
    const { side: _side, scheduler: _s, streamHighWater: _h, acceptBacklog: _a, ...config } = options;
    this.session = new SmuxSession(options.side, events, config, this.scheduler.now());
    this.arm(this.session.tick(this.scheduler.now()));
    this.read();
  }

  get stats(): SmuxStats {
    return this.session.stats;
  }

  get closed(): boolean {
    return this.session.closed;
  }

  /** Streams open now. */
  get size(): number {
    return this.byId.size;
  }

  /** Emits once when the mux ends: null after `close()`, else the error. */
  get ended$(): Observable<KcpError | null> {
    return new Observable<KcpError | null>((subscriber) => {
      if (this.session.closed) {
        subscriber.next(this.session.error);
        subscriber.complete();
        return undefined;
      }
      return this.ended.subscribe(subscriber);
    });
  }

  /** Streams the peer opens (smux AcceptStream). Completes when the mux ends. */
  get streams$(): Observable<MuxStream> {
    return new Observable<MuxStream>((subscriber) => {
      this.acceptors++;
      while (this.backlog.length > 0 && !subscriber.closed) subscriber.next(this.backlog.shift()!);
      if (this.session.closed) subscriber.complete();
      const sub = this.accepted.subscribe(subscriber);
      return () => {
        this.acceptors--;
        sub.unsubscribe();
      };
    });
  }

  /** Opens a stream (smux OpenStream). Throws SMUX_GOAWAY when ids ran out, or the mux's error after it ended. */
  open(): MuxStream {
    const sid = this.session.open();
    const s = new MuxStream(this, sid);
    this.byId.set(sid, s);
    this.pump();
    return s;
  }

  /** Ends the mux and closes the transport. Streams not yet at their end error with CLOSED. Idempotent. */
  close(): void {
    this.session.close();
  }

  /** Sends what the session has for the transport, as long as the transport takes it. */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.waitingWritable === null && !this.session.closed) {
          const frame = this.held ?? this.session.pull();
          if (frame === null) break;
          this.held = null;
          let ok: boolean;
          try {
            ok = this.transport.write(frame);
          } catch (e) {
            this.session.fail(e instanceof KcpError ? e : new KcpError('SOCKET_ERROR', `mux transport: ${String(e)}`, { cause: e }));
            return;
          }
          if (!ok) {
            this.held = frame;
            this.waitingWritable = this.transport.writable$.subscribe({
              next: () => {
                this.waitingWritable?.unsubscribe();
                this.waitingWritable = null;
                this.pump();
              },
              error: (e: unknown) => this.transportEnded(e),
              complete: () => this.transportEnded(null),
            });
          }
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    for (const [s, out] of this.finishing) {
      if (!this.session.finPending(s.id)) {
        this.finishing.delete(s);
        out();
      }
    }
    for (const s of this.blocked) {
      if (this.session.queued(s.id) < this.highWater) {
        this.blocked.delete(s);
        s.onWritable();
      }
    }
  }

  /** Calls `out` once `stream`'s FIN has gone to the transport. @internal */
  whenFinSent(stream: MuxStream, out: () => void): void {
    this.finishing.set(stream, out);
  }

  /** Resumes reading the transport if it was paused and the receive buffer has room again. */
  resume(): void {
    if (this.reading === null && !this.session.readPaused) this.read();
  }

  private read(): void {
    if (this.reading !== null || this.session.closed || this.session.readPaused) return;
    const current = new Subscription();
    this.reading = current;
    let paused = false;
    current.add(
      this.transport.data$
        .pipe(
          // stop reading, synchronously (even inside the subscribe call), once the buffer is used up
          takeWhile((chunk) => {
            this.session.input(chunk);
            this.pump();
            if (!this.session.readPaused || this.session.closed) return true;
            paused = true;
            return false;
          })
        )
        .subscribe({
          error: (e: unknown) => this.transportEnded(e),
          complete: () => {
            if (this.reading === current) this.reading = null;
            if (!paused) this.transportEnded(null);
          },
        })
    );
  }

  private transportEnded(e: unknown): void {
    if (this.session.closed) return;
    const err =
      e instanceof KcpError ? e : e === null ? new KcpError('SOCKET_CLOSED', 'smux: the connection under the mux ended') : new KcpError('SOCKET_ERROR', `smux: ${String(e)}`, { cause: e });
    this.session.fail(err);
  }

  private arm(due: number): void {
    this.timer?.unsubscribe();
    this.timer = null;
    if (due === Infinity || this.session.closed) return;
    this.timer = this.scheduler.schedule(() => {
      this.timer = null;
      const next = this.session.tick(this.scheduler.now());
      this.pump();
      this.arm(next);
    }, Math.max(0, due - this.scheduler.now()));
  }

  private onAccept(sid: number): void {
    const s = new MuxStream(this, sid);
    this.byId.set(sid, s);
    if (this.acceptors > 0) this.accepted.next(s);
    else if (this.backlog.length < this.acceptBacklog) this.backlog.push(s);
    else {
      this.refusedStreams++;
      this.session.closeStream(sid);
    }
  }

  private onRemoved(sid: number): void {
    const s = this.byId.get(sid);
    if (s === undefined) return;
    this.byId.delete(sid);
    this.blocked.delete(s);
    const i = this.backlog.indexOf(s);
    if (i >= 0) this.backlog.splice(i, 1);
    const end = this.session.closed ? (this.session.error ?? new KcpError('CLOSED', 'smux: the mux was closed')) : null;
    // what the peer or the network did ends a stream as its FIN would: a datagram must not be
    // able to throw into an application holding only a next callback (mux.ended$ still says why)
    s.onRemoved(end !== null && PEER_ENDS.has(end.code) ? null : end);
  }

  private onClosed(error: KcpError | null): void {
    this.timer?.unsubscribe();
    this.timer = null;
    this.reading?.unsubscribe();
    this.reading = null;
    this.waitingWritable?.unsubscribe();
    this.waitingWritable = null;
    this.held = null;
    this.transport.close();
    this.accepted.complete();
    this.ended.next(error);
    this.ended.complete();
  }
}

/** One smux stream of a `Mux`. */
export class MuxStream {
  private reader: Subscriber<Uint8Array> | null = null;
  private readonly pending: Uint8Array[] = [];
  private fin = false;
  private done = false;
  private delivering = false;
  private failure: KcpError | null = null;
  private readonly drained = new Subject<void>();
  private readonly gone = new Subject<void>();

  constructor(
    readonly mux: Mux,
    readonly id: number
  ) {}

  /** True once the stream is over (both FINs passed, closed, or the mux ended). */
  get closed(): boolean {
    return this.done;
  }

  /**
   * What the peer sent, one reader at a time. Delivering is consuming: while nothing subscribes,
   * data waits in the mux. Completes after the peer's FIN (or after `close()`); errors when the
   * mux ends first.
   */
  get data$(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((subscriber) => {
      if (this.reader !== null) {
        subscriber.error(new KcpError('READER_BUSY', `smux stream ${this.id}: data$ already has a reader`));
        return undefined;
      }
      this.reader = subscriber;
      this.deliver();
      return () => {
        if (this.reader === subscriber) this.reader = null;
      };
    });
  }

  /** Emits when a refused write may be retried; completes when the stream is over. */
  get writable$(): Observable<void> {
    return this.drained.asObservable();
  }

  /** Emits once when the stream is over. */
  get ended$(): Observable<void> {
    return new Observable<void>((subscriber) => {
      if (this.done) {
        subscriber.next();
        subscriber.complete();
        return undefined;
      }
      return this.gone.subscribe(subscriber);
    });
  }

  get writable(): boolean {
    return !this.done && this.mux.session.queued(this.id) < this.mux.highWater;
  }

  /**
   * Queues bytes (held by reference). False, accepting nothing, while `streamHighWater` bytes are
   * queued: wait for `writable$`. Throws `KcpError` CLOSED after `end()`/`close()` or the end.
   */
  write(data: Uint8Array): boolean {
    if (this.done) throw this.failure ?? new KcpError('CLOSED', `smux stream ${this.id}: write after the end`);
    if (this.mux.session.queued(this.id) >= this.mux.highWater) {
      this.mux.blocked.add(this);
      return false;
    }
    this.mux.session.write(this.id, data);
    this.mux.pump();
    return true;
  }

  /** Half-close: FIN after what is queued; `data$` goes on until the peer's FIN. Idempotent. */
  end(): void {
    if (this.done) return;
    this.mux.session.closeWrite(this.id);
    this.mux.pump();
  }

  /**
   * `end()`, then resolves once the FIN has gone to the transport and, when the transport can tell
   * (`drain`: a KCP `Session` can), the peer has acknowledged every byte up to it: after that,
   * closing the mux or the session loses nothing. Rejects with the mux's error if it ends first.
   */
  async finish(): Promise<void> {
    if (!this.done) {
      this.end();
      if (this.mux.session.finPending(this.id)) {
        await new Promise<void>((resolve, reject) => {
          const ended = this.mux.ended$.subscribe(() => reject(this.mux.session.error ?? new KcpError('CLOSED', `smux stream ${this.id}: the mux closed before the FIN went out`)));
          this.mux.whenFinSent(this, () => (ended.unsubscribe(), resolve()));
        });
      }
    } else if (this.failure) throw this.failure;
    await this.mux.transport.drain?.();
  }

  /** smux's Stream.Close: FIN after what is queued; nothing more is read. Idempotent. */
  close(): void {
    if (this.done) return;
    this.mux.session.closeStream(this.id);
    this.mux.pump();
    this.mux.resume();
  }

  /** @internal data or FIN arrived */
  onReadable(): void {
    if (this.reader !== null) this.deliver();
  }

  /** @internal */
  onWritable(): void {
    this.drained.next();
  }

  /** @internal the session forgot the stream: `error` when the mux ended first */
  onRemoved(error: KcpError | null): void {
    if (this.done) return;
    this.done = true;
    if (error !== null && !this.fin) this.failure = error;
    else this.fin = true; // closed locally, or both FINs passed: what was taken is all there is
    this.deliver();
    if (this.failure) this.drained.error(this.failure);
    else this.drained.complete();
    this.gone.next();
    this.gone.complete();
  }

  private deliver(): void {
    const r = this.reader;
    if (r === null || this.delivering) return;
    this.delivering = true;
    try {
      for (;;) {
        if (!this.done && !this.fin) {
          // taking may end the stream (removed inside): the data is pushed first, below
          const t = this.mux.session.take(this.id);
          for (const d of t.data) this.pending.push(d);
          if (t.fin) this.fin = true;
          if (t.bytes > 0) {
            this.mux.pump(); // an UPD may be due
            this.mux.resume();
          }
        }
        if (this.pending.length === 0) break;
        while (this.pending.length > 0 && !r.closed) r.next(this.pending.shift()!);
        if (r.closed) return;
      }
      if (this.failure) r.error(this.failure);
      else if (this.fin) r.complete();
    } finally {
      this.delivering = false;
    }
  }
}
