;; A monitor and alias bomb: monitors itself and opens an alias for ever, whatever
;; `monitor` and `alias` return, never demonitoring or closing anything. Monitors stack,
;; so without a charge for them its relations take the host's memory. It counts refusals
;; in a global, so the loop is not optimised away.
(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "monitor" (func $monitor (param i64) (result i64)))
  (import "shoal" "alias" (func $alias (result i64)))
  (memory (export "memory") 1)
  (global $refused (mut i32) (i32.const 0))
  (func $count (param $r i64)
    (if (i64.lt_s (local.get $r) (i64.const 0))
      (then (global.set $refused (i32.add (global.get $refused) (i32.const 1))))))
  (func (export "main") (result i32)
    (loop $again
      (call $count (call $monitor (call $self)))
      (call $count (call $monitor (call $self)))
      (call $count (call $monitor (call $self)))
      (call $count (call $alias))
      (br $again))
    (global.get $refused)))
