;; A memory bomb: grows its memory a page at a time and touches every new page, until
;; `memory.grow` fails; then it holds what it has, spinning, until its deadline.
;; Without a runtime-wide budget, many of these take the host's memory.
(module
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $page i32)
    (block $full
      (loop $again
        (local.set $page (memory.grow (i32.const 1)))
        (br_if $full (i32.lt_s (local.get $page) (i32.const 0)))
        ;; Touch the new page so that it is resident.
        (i32.store (i32.mul (local.get $page) (i32.const 65536)) (i32.const 1))
        (br $again)))
    (loop $hold (br $hold))
    (memory.size)))
