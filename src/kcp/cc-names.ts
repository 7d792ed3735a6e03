/**
 * The congestion-control strategies by name (`KcpOptions.cc`, `--cc`), and the default.
 * @module
 */
import { BbrCc } from './bbr.js';
import { AdaptiveCc, KcpGoCc, type CcFactory, type CcName } from './cc.js';

/** Every name `KcpOptions.cc` and `--cc` take. */
export const CC_NAMES: readonly CcName[] = ['adaptive', 'kcp-go', 'bbr'];

/** The strategy a core gets when `cc` is not given. */
export const DEFAULT_CC: CcName = 'bbr';

const FACTORIES: Record<CcName, CcFactory> = {
  adaptive: (host) => new AdaptiveCc(host),
  'kcp-go': (host) => new KcpGoCc(host),
  bbr: (host) => new BbrCc(host),
};

/** The factory `cc` names; throws TypeError for anything but a name in CC_NAMES or a function. */
export function ccFactory(cc: CcName | CcFactory | undefined): CcFactory {
  if (cc === undefined) return FACTORIES[DEFAULT_CC];
  if (typeof cc === 'function') return cc;
  if (typeof cc !== 'string' || !(CC_NAMES as readonly string[]).includes(cc)) throw new TypeError(`kcp: cc must be one of ${CC_NAMES.join(', ')} or a function, got ${String(cc)}`);
  return FACTORIES[cc];
}
