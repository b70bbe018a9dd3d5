(module
  (import "env" "memory" (memory 1))
  ;; sum(p, n): the ones' complement sum of memory[p, p + n) read as
  ;; little-endian 16-bit words (an odd last byte as the low byte of a word),
  ;; folded to 16 bits. n <= 524288 (a lane adds at most 131070 per 16 bytes).
  (func (export "sum") (param $p i32) (param $n i32) (result i32)
    (local $end i32) (local $a v128) (local $b v128) (local $s i64)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done32
      (loop $l32
        (br_if $done32 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $end)))
        (local.set $a (i32x4.add (local.get $a)
          (i32x4.extadd_pairwise_i16x8_u (v128.load align=1 (local.get $p)))))
        (local.set $b (i32x4.add (local.get $b)
          (i32x4.extadd_pairwise_i16x8_u (v128.load offset=16 align=1 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $l32)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 16)) (local.get $end))
      (then
        (local.set $a (i32x4.add (local.get $a)
          (i32x4.extadd_pairwise_i16x8_u (v128.load align=1 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))))
    (local.set $a (i32x4.add (local.get $a) (local.get $b)))
    (local.set $s (i64.add
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $a)))
               (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $a))))
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $a)))
               (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $a))))))
    (block $done2
      (loop $l2
        (br_if $done2 (i32.gt_u (i32.add (local.get $p) (i32.const 2)) (local.get $end)))
        (local.set $s (i64.add (local.get $s) (i64.load16_u align=1 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (br $l2)))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then (local.set $s (i64.add (local.get $s) (i64.load8_u (local.get $p))))))
    (block $folded
      (loop $fold
        (br_if $folded (i64.le_u (local.get $s) (i64.const 0xffff)))
        (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffff))
                               (i64.shr_u (local.get $s) (i64.const 16))))
        (br $fold)))
    (i32.wrap_i64 (local.get $s))))
