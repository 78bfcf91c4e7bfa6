;; A memory bomb: grows its memory a page at a time and writes to every 4 KiB of each new
;; page, so that all of it is resident, until `memory.grow` fails; then it holds what it
;; has, spinning, until its deadline.
;; Without a runtime-wide budget, many of these take the host's memory.
(module
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $page i32) (local $at i32) (local $end i32)
    (block $full
      (loop $again
        (local.set $page (memory.grow (i32.const 1)))
        (br_if $full (i32.lt_s (local.get $page) (i32.const 0)))
        ;; Touch every 4 KiB of the new page so that all of it is resident.
        (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
        (local.set $end (i32.add (local.get $at) (i32.const 65536)))
        (loop $touch
          (i32.store (local.get $at) (i32.const 1))
          (local.set $at (i32.add (local.get $at) (i32.const 4096)))
          (br_if $touch (i32.lt_u (local.get $at) (local.get $end))))
        (br $again)))
    (loop $hold (br $hold))
    (memory.size)))
