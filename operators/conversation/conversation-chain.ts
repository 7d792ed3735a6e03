/**
 * A conversation's layers, inbound and outbound, in one of two forms built from the same layer
 * steps (`LayerStep`, one per layer, with its checks and counters):
 *
 * - **piped**: the layer operators (each made of its step), with the user's operators between
 *   them and pacing at the end;
 * - **fused**: with no user layer and no pacing, the same steps called directly, in the same
 *   order, as Akka Streams and Reactor fuse operators: no Subject, no subscription per layer.
 *   Every layer then owns what it is given: headers are written in place and FEC shards held as
 *   views, as the operators do with `inPlace`. A throw in a step ends the conversation with that
 *   layer's `LAYER_ERROR`, and nothing is done once the conversation is down (each step checks
 *   where an operator would find its subscriber closed), as with the operators.
 *
 * Both offer the same entries, so the conversation never asks which form it has.
 * test/fused-chain.test.ts runs both through the same traffic and compares everything observable.
 * @module
 */
import { identity, merge, Subject, tap, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { cryptHeaderSizeOf, type PacketCrypt } from '../../src/crypt/crypt.js';
import type { KcpError } from '../../src/errors.js';
import { FecEncoder } from '../../src/fec/fec-encoder.js';
import type { FecOptions } from '../../src/fec/fec-options.js';
import { FecReceiver } from '../../src/fec/fec-receiver.js';
import type { Kcp } from '../../src/kcp/kcp.js';
import type { Sink } from '../../src/sink.js';
import type { Snmp } from '../../src/stats.js';
import type { LayerSlot } from './conversation.js';
import { crcCheck, crcCheckStep } from '../layers/crc-check.js';
import { crcSeal, crcSealStep } from '../layers/crc-seal.js';
import { decrypt, decryptStep } from '../layers/decrypt.js';
import { encrypt, encryptStep } from '../layers/encrypt.js';
import { fecDecode } from '../layers/fec-decode.js';
import { fecEncode } from '../layers/fec-encode.js';
import { kcpInput, kcpInputStep } from '../layers/kcp-input.js';
import { callStep, layerError, type LayerStep } from '../layers/layer.js';
import { pace, type PaceBacklog } from '../layers/pace.js';

export interface ChainOptions {
  crypt: PacketCrypt;
  fec: FecOptions | null;
  stats: Snmp;
  kcp: Kcp;
  scheduler: SchedulerLike;
  antiReplay: number | undefined;
  /** The user's operators (piped only). */
  layers: Partial<Record<LayerSlot, OperatorFunction<Uint8Array, Uint8Array>>> | undefined;
  /** Pacing, bytes per second (piped only). */
  rateLimit: number | undefined;
  /** What the `rateLimit` pacer holds (see `pace`'s backlog). */
  paceBacklog?: PaceBacklog;
}

/** What the chain asks its conversation. */
export interface ChainHost {
  /** The conversation is torn down: nothing more passes. */
  isDown(): boolean;
  /** Ends the conversation with an error. */
  fail(e: unknown): void;
  /** A KCP packet is about to enter the core. */
  wake(): void;
  /** The core took a packet: the reader reads, the replies go out. */
  took(): void;
  /** An OOB message arrived. */
  oob(payload: Uint8Array): void;
  /** A finished datagram for the wire. */
  emit(datagram: Uint8Array): void;
}

/** The chain's entries, the same in both forms. */
export interface Chain {
  /** A datagram from the wire. */
  input(datagram: Uint8Array): void;
  /** A datagram decrypted as `decrypt` emits it (it passes `afterDecrypt` and the CRC check). */
  inputDecrypted(datagram: Uint8Array): void;
  /** A body decrypted and checked (it enters at FEC decoding). */
  inputBody(body: Uint8Array): void;
  /** Where the KCP core flushes to. */
  readonly kcp: Sink<Uint8Array>;
  /** An OOB body: it skips KCP and FEC encoding, then is sealed and encrypted. */
  sendOob(body: Uint8Array): void;
  /** Tears the chain down; what the FEC coders hold is dropped. */
  stop(): void;
}

/** The layers as plain calls of their steps. */
export class FusedChain implements Chain {
  readonly kcp: Sink<Uint8Array>;
  private readonly fail: (e: KcpError) => void;
  private readonly isDown: () => boolean;
  private readonly sealStep: LayerStep<Uint8Array, Uint8Array> | null;
  private readonly encryptStep: LayerStep<Uint8Array, Uint8Array> | null;
  private readonly decryptStep: LayerStep<Uint8Array, Uint8Array>;
  private readonly checkStep: LayerStep<Uint8Array, Uint8Array>;
  private readonly kcpInputStep: LayerStep<Uint8Array, Kcp>;
  // the FEC coders and their sinks are made at first use (with no local FEC the receiver adapts to the peer)
  private fecEncoder: FecEncoder | null = null;
  private fecReceiver: FecReceiver | null = null;
  private sealed: Sink<Uint8Array> | null = null;
  private packets: Sink<Uint8Array> | null = null;

  constructor(
    private readonly o: ChainOptions,
    private readonly host: ChainHost
  ) {
    const { crypt, stats, kcp, scheduler } = o;
    this.fail = (e) => host.fail(e);
    this.isDown = () => host.isDown();
    // made in the order the piped form builds its operators, so a bad option is reported alike
    this.sealStep = crcSealStep({ crypt, inPlace: true });
    this.encryptStep = encryptStep({ crypt, inPlace: true });
    this.decryptStep = decryptStep({ crypt, stats, antiReplay: o.antiReplay });
    this.checkStep = crcCheckStep({ crypt, stats });
    this.kcp = { next: (dg) => this.encode(dg) };
    this.kcpInputStep = kcpInputStep({ kcp, output: this.kcp, stats, scheduler });
  }

  input(dg: Uint8Array): void {
    const out = callStep('decrypt', this.decryptStep, dg, this.fail);
    if (out !== null) this.inputDecrypted(out);
  }

  inputDecrypted(dg: Uint8Array): void {
    if (this.host.isDown()) return;
    const body = callStep('crcCheck', this.checkStep, dg, this.fail);
    if (body !== null) this.inputBody(body);
  }

  inputBody(body: Uint8Array): void {
    const host = this.host;
    if (host.isDown()) return;
    try {
      this.fecReceiver ??= new FecReceiver(this.o.fec, this.o.stats, (p) => host.oob(p), true);
      this.packets ??= { next: (p) => this.inputPacket(p) };
      this.fecReceiver.take(body, this.packets, this.isDown);
    } catch (e) {
      this.fail(layerError('fecDecode', e));
    }
  }

  /** kcpInput: a KCP packet into the core, then the conversation is told. */
  private inputPacket(packet: Uint8Array): void {
    const host = this.host;
    if (host.isDown()) return;
    try {
      host.wake();
    } catch (e) {
      return host.fail(e);
    }
    if (host.isDown()) return;
    if (callStep('kcpInput', this.kcpInputStep, packet, this.fail) === null || host.isDown()) return;
    host.took();
  }

  /** fecEncode: what the core flushes. */
  private encode(dg: Uint8Array): void {
    if (this.host.isDown()) return;
    const { fec, stats, crypt, scheduler } = this.o;
    if (fec === null) return this.sendOob(dg);
    try {
      this.sealed ??= { next: (b) => this.sendOob(b) };
      this.fecEncoder ??= new FecEncoder(fec, stats, { headroom: cryptHeaderSizeOf(crypt) });
      this.fecEncoder.encode(dg, scheduler.now() >>> 0, this.sealed, true);
    } catch (e) {
      this.fail(layerError('fecEncode', e));
    }
  }

  /** crcSeal and encrypt: bodies from FEC (or the core without it) and OOB messages, to the wire. */
  sendOob(body: Uint8Array): void {
    if (this.host.isDown()) return;
    let dg: Uint8Array | null = body;
    if (this.sealStep !== null) dg = callStep('crcSeal', this.sealStep, dg, this.fail);
    if (dg !== null && this.encryptStep !== null) dg = callStep('encrypt', this.encryptStep, dg, this.fail);
    if (dg !== null) this.host.emit(dg);
  }

  stop(): void {
    this.fecEncoder = null;
    this.fecReceiver = null;
  }
}

/** The layer operators piped, with the user's operators in their slots and pacing at the end. */
export class PipedChain implements Chain {
  private readonly wire = new Subject<Uint8Array>();
  private readonly decrypted = new Subject<Uint8Array>();
  private readonly bodies = new Subject<Uint8Array>();
  readonly kcp = new Subject<Uint8Array>();
  private readonly oob = new Subject<Uint8Array>();
  private readonly subscriptions: Subscription[];

  constructor(o: ChainOptions, host: ChainHost) {
    const { crypt, fec, stats, kcp, scheduler, layers } = o;
    const layer = (slot: LayerSlot) => layers?.[slot] ?? identity;
    const has = (slot: LayerSlot) => layers?.[slot] !== undefined;
    this.subscriptions = [
      merge(this.kcp.pipe(layer('beforeFecEncode'), fecEncode({ fec, stats, scheduler, inPlace: !has('beforeFecEncode'), headroom: cryptHeaderSizeOf(crypt) })), this.oob)
        .pipe(
          layer('afterFecEncode'),
          crcSeal({ crypt, inPlace: !has('afterFecEncode') && (fec !== null || !has('beforeFecEncode')) }),
          layer('afterCrcSeal'),
          encrypt({ crypt, inPlace: !has('afterCrcSeal') }),
          layer('afterEncrypt'),
          o.rateLimit !== undefined ? pace({ rate: o.rateLimit, scheduler, backlog: o.paceBacklog }) : identity
        )
        .subscribe({ next: (dg) => host.emit(dg), error: (e: unknown) => host.fail(e) }),
      merge(merge(this.wire.pipe(decrypt({ crypt, stats, antiReplay: o.antiReplay })), this.decrypted).pipe(layer('afterDecrypt'), crcCheck({ crypt, stats })), this.bodies)
        .pipe(
          layer('afterCrcCheck'),
          // with no local FEC, adapts to the peer (kcp-go decodes lazily at 1/1); shards kept as views unless a user layer follows
          fecDecode({ fec, stats, inPlace: !has('afterFecDecode'), onOob: (p) => host.oob(p) }),
          layer('afterFecDecode'),
          tap(() => host.wake()),
          kcpInput({ kcp, output: this.kcp, stats, scheduler })
        )
        .subscribe({ next: () => host.took(), error: (e: unknown) => host.fail(e) }),
    ];
  }

  input(dg: Uint8Array): void {
    this.wire.next(dg);
  }

  inputDecrypted(dg: Uint8Array): void {
    this.decrypted.next(dg);
  }

  inputBody(body: Uint8Array): void {
    this.bodies.next(body);
  }

  sendOob(body: Uint8Array): void {
    this.oob.next(body);
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.wire.complete();
    this.decrypted.complete();
    this.bodies.complete();
    this.kcp.complete();
    this.oob.complete();
  }
}
