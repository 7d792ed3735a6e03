;; Reed-Solomon multiply-accumulate over GF(2^8) with WebAssembly SIMD, for rxkcp's FEC.
;;
;; Multiplying a byte v by a constant c splits into its nibbles: c·v = c·(v & 15) ^ c·(v >> 4 << 4).
;; Each half has only 16 possible values, so a 16-byte table per half, looked up with
;; i8x16.swizzle, multiplies 16 bytes at once (the technique klauspost/reedsolomon uses with
;; PSHUFB). The caller keeps, for every coefficient c, a 32-byte table at table + 32·c:
;; bytes 0..15 = c·i, bytes 16..31 = c·(i << 4), for i = 0..15.
;;
;; n is a multiple of 16; src and dst are 16-byte aligned regions of this memory.
(module
  (memory (export "memory") 8)

  ;; dst[0..n) = c·src[0..n)
  (func (export "mulSet") (param $table i32) (param $src i32) (param $dst i32) (param $n i32)
    (local $lo v128) (local $hi v128) (local $mask v128) (local $v v128) (local $i i32)
    (local.set $lo (v128.load (local.get $table)))
    (local.set $hi (v128.load offset=16 (local.get $table)))
    (local.set $mask (i8x16.splat (i32.const 15)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load (i32.add (local.get $src) (local.get $i))))
        (v128.store (i32.add (local.get $dst) (local.get $i))
          (v128.xor
            (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
            (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; dst[0..n) ^= c·src[0..n)
  (func (export "mulAdd") (param $table i32) (param $src i32) (param $dst i32) (param $n i32)
    (local $lo v128) (local $hi v128) (local $mask v128) (local $v v128) (local $p i32) (local $i i32)
    (local.set $lo (v128.load (local.get $table)))
    (local.set $hi (v128.load offset=16 (local.get $table)))
    (local.set $mask (i8x16.splat (i32.const 15)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load (i32.add (local.get $src) (local.get $i))))
        (local.set $p (i32.add (local.get $dst) (local.get $i)))
        (v128.store (local.get $p)
          (v128.xor
            (v128.load (local.get $p))
            (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $mask)))
              (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))
)
