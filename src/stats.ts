/**
 * Counters with kcp-go's SNMP field names (snmp.go, HEAD), so figures read the same as a kcp-go
 * peer's `DefaultSnmp`. Each session owns one `Snmp`; cores increment plain numbers on the hot
 * path; `Snmp.add` folds sessions into a process-wide aggregate.
 *
 * DIVERGES(kcp-go): kcp-go keeps one global, atomic `DefaultSnmp`. rxkcp injects the object, so a
 * test or a session sees only its own counts, and gauges are per session rather than "last
 * session to flush wins".
 * @module
 */

/** Field order of kcp-go's `Snmp.Header()`, followed by the counters rxkcp adds. */
export const SNMP_FIELDS = [
  'BytesSent',
  'BytesReceived',
  'MaxConn',
  'ActiveOpens',
  'PassiveOpens',
  'CurrEstab',
  'InErrs',
  'InCsumErrors',
  'KCPInErrors',
  'InPkts',
  'OutPkts',
  'InSegs',
  'OutSegs',
  'InBytes',
  'OutBytes',
  'RetransSegs',
  'FastRetransSegs',
  'EarlyRetransSegs',
  'LostSegs',
  'RepeatSegs',
  'FECFullShardSet',
  'FECParityShards',
  'FECErrs',
  'FECRecovered',
  'FECShardSet',
  'FECShardMin',
  'RingBufferSndQueue',
  'RingBufferRcvQueue',
  'RingBufferSndBuffer',
  'OOBPackets',
  // rxkcp's own, not in kcp-go:
  'ReplayDrops', // AEAD datagrams dropped by the opt-in anti-replay window
  'IdleTimeouts', // sessions ended by idleTimeout
  'SessionsRefused', // new sessions refused by maxSessions or the accept backlog
  'DeadLinks', // conversations where a segment reached the dead-link count (kcp-go sets its state field and goes on)
  'StrayPkts', // datagrams a listener refused because the session they would open could never deliver (mid-stream)
  'LatePkts', // datagrams a listener dropped because they belong to a session that just ended
  'SpuriousRetrans', // retransmissions shown unneeded: the ACK echoed an earlier transmission's ts (Eifel detection)
  'HalfOpenOpens', // sources a listener holds as half-open: fresh first-flight datagrams, no sn 0 yet
  'HalfOpenEvicted', // half-open entries dropped, oldest first, to make room for a newer one (maxHalfOpen)
  'HalfOpenTimeouts', // half-open entries dropped at their deadline (snZeroWait) without sending sn 0
] as const;

export type SnmpField = (typeof SNMP_FIELDS)[number];

/** Gauges: set, not summed over time. `add` sums them across sessions all the same. */
export const SNMP_GAUGES: ReadonlySet<SnmpField> = new Set<SnmpField>([
  'CurrEstab',
  'MaxConn',
  'FECShardSet',
  'FECShardMin',
  'RingBufferSndQueue',
  'RingBufferRcvQueue',
  'RingBufferSndBuffer',
]);

export class Snmp {
  BytesSent = 0;
  BytesReceived = 0;
  MaxConn = 0;
  ActiveOpens = 0;
  PassiveOpens = 0;
  CurrEstab = 0;
  InErrs = 0;
  InCsumErrors = 0;
  KCPInErrors = 0;
  InPkts = 0;
  OutPkts = 0;
  InSegs = 0;
  OutSegs = 0;
  InBytes = 0;
  OutBytes = 0;
  RetransSegs = 0;
  FastRetransSegs = 0;
  EarlyRetransSegs = 0;
  LostSegs = 0;
  RepeatSegs = 0;
  FECFullShardSet = 0;
  FECParityShards = 0;
  FECErrs = 0;
  FECRecovered = 0;
  FECShardSet = 0;
  FECShardMin = 0;
  RingBufferSndQueue = 0;
  RingBufferRcvQueue = 0;
  RingBufferSndBuffer = 0;
  OOBPackets = 0;
  ReplayDrops = 0;
  IdleTimeouts = 0;
  SessionsRefused = 0;
  DeadLinks = 0;
  StrayPkts = 0;
  LatePkts = 0;
  SpuriousRetrans = 0;
  HalfOpenOpens = 0;
  HalfOpenEvicted = 0;
  HalfOpenTimeouts = 0;

  /** Adds every field of `other` into this one (MaxConn takes the maximum). */
  add(other: Snmp): this {
    for (const f of SNMP_FIELDS) {
      if (f === 'MaxConn') this.MaxConn = Math.max(this.MaxConn, other.MaxConn);
      else this[f] += other[f];
    }
    return this;
  }

  /** A plain copy, safe to hand out (an observable view emits these). */
  snapshot(): Record<SnmpField, number> {
    const out = {} as Record<SnmpField, number>;
    for (const f of SNMP_FIELDS) out[f] = this[f];
    return out;
  }

  /** Sets every counter back to zero. */
  reset(): void {
    for (const f of SNMP_FIELDS) this[f] = 0;
  }
}
