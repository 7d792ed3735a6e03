import { describe, expect, it } from 'vitest';
import type { BlockCipher } from '../src/crypt/block-cipher.js';
import { Aes } from '../src/crypt/ciphers/aes.js';
import { Blowfish } from '../src/crypt/ciphers/blowfish.js';
import { Cast5 } from '../src/crypt/ciphers/cast5.js';
import { Sm4 } from '../src/crypt/ciphers/sm4.js';
import { Tea } from '../src/crypt/ciphers/tea.js';
import { TripleDes } from '../src/crypt/ciphers/triple-des.js';
import { Twofish } from '../src/crypt/ciphers/twofish.js';
import { fromHex, toHex } from '../src/wire/bytes.js';

// Published known-answer vectors, independent of kcp-go (whose CFB vectors test/crypt-vectors covers).
const kats: [string, (k: Uint8Array) => BlockCipher, string, string, string][] = [
  ['AES-128 (FIPS-197 C.1)', (k) => new Aes(k), '000102030405060708090a0b0c0d0e0f', '00112233445566778899aabbccddeeff', '69c4e0d86a7b0430d8cdb78070b4c55a'],
  ['SM4 (GB/T 32907 example)', (k) => new Sm4(k), '0123456789abcdeffedcba9876543210', '0123456789abcdeffedcba9876543210', '681edf34d206965e86b3e94f536e4246'],
  ['CAST5 (RFC 2144 B.1, 128-bit key)', (k) => new Cast5(k), '0123456712345678234567893456789a', '0123456789abcdef', '238b4fe5847e44b2'],
  ['Blowfish (Schneier, zero key)', (k) => new Blowfish(k), '0000000000000000', '0000000000000000', '4ef997456198dd78'],
  ['Blowfish (Schneier, all ones)', (k) => new Blowfish(k), 'ffffffffffffffff', 'ffffffffffffffff', '51866fd5b85ecb8a'],
  ['Twofish-128 (paper, zero key)', (k) => new Twofish(k), '00000000000000000000000000000000', '00000000000000000000000000000000', '9f589f5cf6122c32b6bfec2f2ae8c35a'],
  ['Twofish-256 (paper)', (k) => new Twofish(k), '0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff', '00000000000000000000000000000000', '37527be0052334b89f0cfccae87cfa20'],
  ['DES via 3DES with K1=K2=K3 (the classic worked example)', (k) => new TripleDes(k), '133457799bbcdff1133457799bbcdff1133457799bbcdff1', '0123456789abcdef', '85e813540f0ab405'],
  ['TEA with 16 rounds (x/crypto test)', (k) => new Tea(k, 16), '00000000000000000000000000000000', '0000000000000000', 'ed285da1455b33c1'],
];

describe('block ciphers against published vectors', () => {
  for (const [name, make, key, pt, ct] of kats) {
    it(name, () => {
      const c = make(fromHex(key));
      const out = new Uint8Array(c.blockSize);
      c.encryptBlock(fromHex(pt), 0, out, 0);
      expect(toHex(out)).toBe(ct);
      const inPlace = fromHex('00' + pt); // at an offset, in place
      c.encryptBlock(inPlace, 1, inPlace, 1);
      expect(toHex(inPlace.subarray(1))).toBe(ct);
    });
  }

  it('reject wrong key lengths, naming the cipher', () => {
    expect(() => new Blowfish(new Uint8Array(57))).toThrow(/blowfish/);
    expect(() => new Cast5(new Uint8Array(7))).toThrow(/cast5/);
    expect(() => new Twofish(new Uint8Array(7))).toThrow(/twofish/);
    expect(() => new Sm4(new Uint8Array(7))).toThrow(/sm4/);
    expect(() => new TripleDes(new Uint8Array(16))).toThrow(/3des/);
  });
});
