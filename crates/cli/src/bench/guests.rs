//! The benchmark's guests, as WAT: built in, nothing to fetch. Each uses only the
//! `shoal` host module (docs/ABI.md). Message payloads are little-endian `i64`s.

/// `main`: loops forever, never calling the host. Each iteration calls a one-instruction
/// function, so compiled code writes its fuel counter back to the store every iteration
/// (wasmtime does so at calls): the fuel the runtime reads at a preemption is exact in
/// every mode, which is what `fair` measures shares by.
pub(crate) const SPINNER: &str = r#"(module
  (func $step (param i64) (result i64) (i64.add (local.get 0) (i64.const 1)))
  (func (export "main") (local $x i64)
    (loop $spin
      (local.set $x (call $step (local.get $x)))
      (br $spin))))"#;

/// `main(n)`: counts down from `n` with no host call: the loop of `yield` and `overhead`.
pub(crate) const LOOP: &str = r#"(module
  (func (export "main") (param $n i64)
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))))"#;

/// `main`: returns at once; it has a memory, like any real guest, so a spawn pays for one.
pub(crate) const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "main")))"#;

/// `main`: blocks in receive until a message comes, replies to its sender with an empty
/// message of tag 1, and returns 0 if the reply was queued (else the send's status).
pub(crate) const IDLE: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (drop (call $receive (i64.const -1)))
    (call $send (call $sender) (i64.const 1) (i32.const 0) (i32.const 0))))"#;

/// `main`: the wake probe. Its first message, from its collector, holds `k`; it then
/// sleeps 1 ms `k` times, each time sending the collector (tag 1) how late it woke, in
/// nanoseconds past the millisecond, read on the runtime's clock.
pub(crate) const SLEEPER: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "sleep" (func $sleep (param i64)))
  (import "shoal" "now" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (local $to i64) (local $k i64) (local $t i64)
    (drop (call $receive (i64.const -1)))
    (local.set $to (call $sender))
    (drop (call $read (i32.const 0) (i32.const 8)))
    (local.set $k (i64.load (i32.const 0)))
    (block $done
      (loop $again
        (br_if $done (i64.le_s (local.get $k) (i64.const 0)))
        (local.set $t (call $now))
        (call $sleep (i64.const 1))
        (i64.store (i32.const 8)
          (i64.sub (i64.sub (call $now) (local.get $t)) (i64.const 1000000)))
        (drop (call $send (local.get $to) (i64.const 1) (i32.const 8) (i32.const 8)))
        (local.set $k (i64.sub (local.get $k) (i64.const 1)))
        (br $again)))))"#;

/// Tags of the ring protocol.
pub(crate) mod ring_tag {
    /// Coordinator → node: the next node's pid.
    pub const NEXT: u64 = 0;
    /// Node → node: the token, holding the hops still to go.
    pub const TOKEN: u64 = 1;
    /// Node → coordinator: the token has made every hop.
    pub const DONE: u64 = 2;
    /// Node → node: stop; each node forwards it once and returns. (Only the WAT sends
    /// it; named here so that the protocol is written down in one place.)
    #[allow(dead_code)]
    pub const STOP: u64 = 3;
    /// Node → coordinator: it has its next node and waits for the token.
    pub const READY: u64 = 4;
}

/// `main`: a ring node. Its first message (from the coordinator) holds the next node's
/// pid; it answers `READY`. Then for each token: if hops remain, it passes the token on with one hop fewer;
/// at zero it tells the coordinator and sends `STOP` round the ring. A node receiving
/// `STOP` forwards it and returns.
pub(crate) const RING_NODE: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (local $next i64) (local $boss i64) (local $hops i64)
    (drop (call $receive (i64.const -1)))
    (local.set $boss (call $sender))
    (drop (call $read (i32.const 0) (i32.const 8)))
    (local.set $next (i64.load (i32.const 0)))
    (drop (call $send (local.get $boss) (i64.const 4) (i32.const 0) (i32.const 0)))
    (loop $again
      (drop (call $receive (i64.const -1)))
      (if (i64.eq (call $tag) (i64.const 3))
        (then
          (drop (call $send (local.get $next) (i64.const 3) (i32.const 0) (i32.const 0)))
          (return)))
      (drop (call $read (i32.const 0) (i32.const 8)))
      (local.set $hops (i64.load (i32.const 0)))
      (if (i64.eqz (local.get $hops))
        (then
          (drop (call $send (local.get $boss) (i64.const 2) (i32.const 0) (i32.const 0)))
          (drop (call $send (local.get $next) (i64.const 3) (i32.const 0) (i32.const 0)))
          (return)))
      (i64.store (i32.const 0) (i64.sub (local.get $hops) (i64.const 1)))
      (drop (call $send (local.get $next) (i64.const 1) (i32.const 0) (i32.const 8)))
      (br $again))))"#;

/// `main(arg)`: a skynet node, `arg = num << 8 | level`. A leaf (level 0) sends `num` to
/// its parent. Any other node spawns ten children covering `num + i·10^(level-1)`, sums
/// every answer and sends the sum to its parent.
///
/// A spawn refused for capacity is not retried: the node walks that child's subtree
/// itself (spawning below it where it can), so a node never waits for a slot while
/// holding one and the tree cannot deadlock at capacity (Cilk's answer to a full pool).
/// Answers of all its spawned children arrive in its one mailbox and are simply summed.
/// The runtime's spawn count says how many nodes ran as processes. Exit code: 0; 1 if a
/// receive waited a minute in vain; 2 if a spawn was refused for another reason.
pub(crate) const SKYNET: &str = r#"(module
  (import "shoal" "parent" (func $parent (result i64)))
  (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "main")
  (global $sum (mut i64) (i64.const 0))
  (global $out (mut i64) (i64.const 0))
  (global $failed (mut i32) (i32.const 0))
  (func $visit (param $num i64) (param $level i64)
    (local $step i64) (local $i i64) (local $child i64) (local $pid i64)
    (if (i64.eqz (local.get $level))
      (then (global.set $sum (i64.add (global.get $sum) (local.get $num))) (return)))
    (local.set $step (i64.const 1))
    (local.set $i (i64.const 1))
    (block $d (loop $p
      (br_if $d (i64.ge_u (local.get $i) (local.get $level)))
      (local.set $step (i64.mul (local.get $step) (i64.const 10)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $p)))
    (local.set $i (i64.const 0))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (i64.const 10)))
      (local.set $child (i64.add (local.get $num) (i64.mul (local.get $i) (local.get $step))))
      (local.set $pid (call $spawn (i32.const 16) (i32.const 4)
        (i64.or (i64.shl (local.get $child) (i64.const 8))
                (i64.sub (local.get $level) (i64.const 1)))))
      (if (i64.ge_s (local.get $pid) (i64.const 0))
        (then (global.set $out (i64.add (global.get $out) (i64.const 1))))
        (else
          (if (i64.eq (local.get $pid) (i64.const -5))
            (then (call $visit (local.get $child) (i64.sub (local.get $level) (i64.const 1))))
            (else (global.set $failed (i32.const 1))))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next))))
  (func (export "main") (param $arg i64) (result i32)
    (call $visit
      (i64.shr_u (local.get $arg) (i64.const 8))
      (i64.and (local.get $arg) (i64.const 255)))
    (block $all (loop $more
      (br_if $all (i64.eqz (global.get $out)))
      (if (i64.lt_s (call $receive (i64.const 60000)) (i64.const 0))
        (then (return (i32.const 1))))
      (drop (call $read (i32.const 0) (i32.const 8)))
      (global.set $sum (i64.add (global.get $sum) (i64.load (i32.const 0))))
      (global.set $out (i64.sub (global.get $out) (i64.const 1)))
      (br $more)))
    (i64.store (i32.const 8) (global.get $sum))
    (drop (call $send (call $parent) (i64.const 1) (i32.const 8) (i32.const 8)))
    (i32.mul (global.get $failed) (i32.const 2))))"#;

/// `main(m)`: spawns `m` children running `child`, which returns at once; a spawn refused
/// for capacity (status -5) yields and tries again. Many of these at once measure spawns
/// from guests, in parallel on every worker.
pub(crate) const SPAWNER: &str = r#"(module
  (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
  (import "shoal" "yield" (func $yield))
  (memory (export "memory") 1)
  (data (i32.const 0) "child")
  (func (export "child"))
  (func (export "main") (param $m i64) (result i32)
    (local $r i64)
    (block $done
      (loop $next
        (br_if $done (i64.le_s (local.get $m) (i64.const 0)))
        (local.set $r (call $spawn (i32.const 0) (i32.const 5) (i64.const 0)))
        (if (i64.eq (local.get $r) (i64.const -5))
          (then (call $yield) (br $next)))
        (if (i64.lt_s (local.get $r) (i64.const 0)) (then unreachable))
        (local.set $m (i64.sub (local.get $m) (i64.const 1)))
        (br $next)))
    (i32.const 0)))"#;

/// The `order` workload's two kinds. Every message's tag is its sender's index and its
/// payload the sender's count of messages before it, an `i64`.
///
/// `sender`: waits for a setup message `[receiver pid, index, count]`, then sends
/// `count` messages; a send refused with `MAILBOX_FULL` or `OVER_BUDGET` is retried after
/// a `yield`, any other failure ends it with that status. Exits with how many sends
/// were refused and retried.
///
/// `receiver`: waits for a setup message `[senders, count]`, then receives
/// `senders × count` messages, checking that each sender's arrive counting 0, 1, 2, ...
/// (the next expected count per sender is at `1024 + 8 · index`). Exits with the number
/// of messages out of that order (a loss or a duplicate shows as one), or, if no message
/// comes for 10 s, minus the number still missing.
pub(crate) const ORDER: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "yield" (func $yield))
  (memory (export "memory") 1)
  (func (export "sender") (result i32)
    (local $to i64) (local $index i64) (local $count i64) (local $k i64)
    (local $status i32) (local $retried i32)
    (drop (call $receive (i64.const -1)))
    (drop (call $read (i32.const 0) (i32.const 24)))
    (local.set $to (i64.load (i32.const 0)))
    (local.set $index (i64.load (i32.const 8)))
    (local.set $count (i64.load (i32.const 16)))
    (block $done
      (loop $again
        (br_if $done (i64.ge_u (local.get $k) (local.get $count)))
        (i64.store (i32.const 32) (local.get $k))
        (local.set $status
          (call $send (local.get $to) (local.get $index) (i32.const 32) (i32.const 8)))
        (if (i32.eqz (local.get $status))
          (then (local.set $k (i64.add (local.get $k) (i64.const 1))))
          (else
            (if (i32.and (i32.ne (local.get $status) (i32.const -2))
                         (i32.ne (local.get $status) (i32.const -13)))
              (then (return (local.get $status))))
            (local.set $retried (i32.add (local.get $retried) (i32.const 1)))
            (call $yield)))
        (br $again)))
    (local.get $retried))
  (func (export "receiver") (result i32)
    (local $total i64) (local $got i64) (local $slot i32) (local $k i64) (local $bad i32)
    (drop (call $receive (i64.const -1)))
    (drop (call $read (i32.const 0) (i32.const 16)))
    (local.set $total (i64.mul (i64.load (i32.const 0)) (i64.load (i32.const 8))))
    (block $done
      (loop $again
        (br_if $done (i64.ge_u (local.get $got) (local.get $total)))
        (if (i64.lt_s (call $receive (i64.const 10000)) (i64.const 0))
          (then (return (i32.wrap_i64 (i64.sub (local.get $got) (local.get $total))))))
        (local.set $slot
          (i32.add (i32.const 1024) (i32.shl (i32.wrap_i64 (call $tag)) (i32.const 3))))
        (drop (call $read (i32.const 16) (i32.const 8)))
        (local.set $k (i64.load (i32.const 16)))
        (if (i64.ne (local.get $k) (i64.load (local.get $slot)))
          (then (local.set $bad (i32.add (local.get $bad) (i32.const 1)))))
        (i64.store (local.get $slot) (i64.add (local.get $k) (i64.const 1)))
        (local.set $got (i64.add (local.get $got) (i64.const 1)))
        (br $again)))
    (local.get $bad)))"#;

#[cfg(test)]
mod tests {
    #[test]
    fn every_benchmark_guest_is_valid_wat() {
        for (name, wat) in [
            ("SPINNER", super::SPINNER),
            ("LOOP", super::LOOP),
            ("TRIVIAL", super::TRIVIAL),
            ("IDLE", super::IDLE),
            ("SLEEPER", super::SLEEPER),
            ("RING_NODE", super::RING_NODE),
            ("SKYNET", super::SKYNET),
            ("SPAWNER", super::SPAWNER),
            ("ORDER", super::ORDER),
        ] {
            wasmtime::Module::new(&wasmtime::Engine::default(), wat)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
