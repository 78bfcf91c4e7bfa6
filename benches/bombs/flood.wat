;; A mailbox flood: sends 64 KiB messages to itself for ever and never receives,
;; whatever `send` returns. Without a bound, its mailbox takes the host's memory.
;; It counts refused sends in a global, so the loop is not optimised away.
(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $refused (mut i32) (i32.const 0))
  (func (export "main") (result i32)
    (loop $again
      (if (i32.ne (call $send (call $self) (i64.const 0) (i32.const 0) (i32.const 65536))
                  (i32.const 0))
        (then (global.set $refused (i32.add (global.get $refused) (i32.const 1)))))
      (br $again))
    (global.get $refused)))
