//! Built-in guest programs, as WAT text for [`Runtime::compile_wat`](crate::Runtime::compile_wat).
//!
//! They are the workloads of the quickstart example, of `shoal run` without a module, and
//! of tests: each is small enough to read in full, and each exercises one behaviour the
//! scheduler must get right.
//!
//! | guest | entry | behaviour |
//! |---|---|---|
//! | [`SPINNER`] | `main` | loops forever, never yields: only preemption stops it |
//! | [`COUNTER`] | `main(n)` | counts to `n`, exits `normal(0)` |
//! | [`YIELDER`] | `main(n)` | calls `shoal.yield` `n` times |
//! | [`SLEEPER`] | `main(ms)` | sleeps `ms` milliseconds in [`SLEEPER_ROUNDS`] naps |
//! | [`PINGPONG`] | `main(n)` | spawns a `pong` child and exchanges `n` round trips with it |
//! | [`MIXED`] | `main(i)` | one of the four kinds above, chosen by `i % 4` |
//!
//! All of them use only the `shoal` host module of the guest ABI (docs/ABI.md). Guests
//! that can fail report it with an exit code (see each one's docs), never by hanging: every
//! receive has a timeout.

/// Loops forever and never calls the host: a CPU hog that only preemption (fuel quanta or
/// epoch slices) can interrupt. It never exits by itself; kill it, or give it a fuel limit
/// or a deadline.
///
/// Entry: `main` (no parameter).
pub const SPINNER: &str = r#"(module
  (func (export "main")
    (loop $spin
      (br $spin))))
"#;

// A wasm module cannot call another module's functions, so the single-kind guests and
// MIXED share their code as text: each function body below is written once, as a macro
// that expands to a string literal, and spliced into every module that runs it.

/// Body of the counter: `(param $n i64)`, counts to `$n` without calling the host.
macro_rules! count_body {
    () => {
        r#"(param $n i64)
    (local $i i64)
    (block $done
      (loop $count
        (br_if $done (i64.ge_s (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $count)))"#
    };
}

/// Body of the yielder: `(param $n i64)`, calls `$yield` `$n` times.
macro_rules! yield_body {
    () => {
        r#"(param $n i64)
    (local $i i64)
    (block $done
      (loop $again
        (br_if $done (i64.ge_s (local.get $i) (local.get $n)))
        (call $yield)
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $again)))"#
    };
}

/// Body of the sleeper: `(param $ms i64)`, sleeps `$ms` in [`SLEEPER_ROUNDS`] naps.
macro_rules! sleep_body {
    () => {
        r#"(param $ms i64)
    (local $round i64)
    (block $done
      (loop $nap
        (br_if $done (i64.ge_s (local.get $round) (i64.const 4)))
        (call $sleep (i64.div_s (local.get $ms) (i64.const 4)))
        (local.set $round (i64.add (local.get $round) (i64.const 1)))
        (br $nap)))"#
    };
}

/// The imports and memory layout the ping-pong functions need: bytes 0..8 are the
/// message buffer, bytes 16..20 the child's export name.
macro_rules! pingpong_imports {
    () => {
        r#"
  (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $message_read (param i32 i32) (result i32)))
  (import "shoal" "message_tag" (func $message_tag (result i64)))
  (import "shoal" "message_sender" (func $message_sender (result i64)))
  (import "shoal" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "pong")
"#
    };
}

/// `$pingpong (param $rounds i64)` and the child `pong`, exported as `pingpong` and
/// `pong`.
macro_rules! pingpong_funcs {
    () => {
        r#"
  (func $pingpong (export "pingpong") (param $rounds i64)
    (local $child i64)
    (local $i i64)
    (local.set $child (call $spawn (i32.const 16) (i32.const 4) (i64.const 0)))
    (if (i64.lt_s (local.get $child) (i64.const 0))
      (then (call $exit (i32.const 2))))
    (block $done
      (loop $round
        (br_if $done (i64.ge_s (local.get $i) (local.get $rounds)))
        (i64.store (i32.const 0) (local.get $i))
        (if (call $send (local.get $child) (i64.const 1) (i32.const 0) (i32.const 8))
          (then (call $exit (i32.const 3))))
        (if (i64.lt_s (call $receive (i64.const 10000)) (i64.const 0))
          (then (call $exit (i32.const 4))))
        (drop (call $message_read (i32.const 0) (i32.const 8)))
        (if (i64.ne (i64.load (i32.const 0)) (i64.add (local.get $i) (i64.const 1)))
          (then (call $exit (i32.const 1))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $round)))
    (drop (call $send (local.get $child) (i64.const 0) (i32.const 0) (i32.const 0))))

  (func (export "pong") (param i64)
    (loop $serve
      (if (i64.lt_s (call $receive (i64.const 10000)) (i64.const 0))
        (then (return)))
      (if (i64.eqz (call $message_tag))
        (then (return)))
      (drop (call $message_read (i32.const 0) (i32.const 8)))
      (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
      (drop (call $send (call $message_sender) (i64.const 1) (i32.const 0) (i32.const 8)))
      (br $serve)))
"#
    };
}

/// Counts from 0 to its argument without calling the host, then exits `normal(0)`. A
/// bounded CPU-bound job: its fuel is proportional to the argument.
///
/// Entry: `main (param i64)`, the number of iterations (≤ 0 returns at once).
pub const COUNTER: &str = concat!("(module\n  (func (export \"main\") ", count_body!(), "))\n");

/// Calls `shoal.yield` once per iteration, then exits `normal(0)`. A cooperative process:
/// every call puts it behind every other runnable process, so how fast it finishes shows
/// how long the run queue is.
///
/// Entry: `main (param i64)`, the number of yields.
pub const YIELDER: &str = concat!(
    "(module\n  (import \"shoal\" \"yield\" (func $yield))\n  (func (export \"main\") ",
    yield_body!(),
    "))\n"
);

/// Naps taken by [`SLEEPER`] (and by the sleeper kind of [`MIXED`]).
pub const SLEEPER_ROUNDS: i64 = 4;

/// Sleeps its argument in milliseconds, split into [`SLEEPER_ROUNDS`] naps of `ms / 4`
/// each, then exits `normal(0)`. While it sleeps it holds no worker; each wake-up should
/// run promptly even when CPU hogs fill the run queue.
///
/// Entry: `main (param i64)`, the total sleep in milliseconds.
pub const SLEEPER: &str = concat!(
    "(module\n  (import \"shoal\" \"sleep\" (func $sleep (param i64)))\n  (func (export \"main\") ",
    sleep_body!(),
    "))\n"
);

/// How long a [`PINGPONG`] process (or the sender kind of [`MIXED`]) waits for a reply
/// before it gives up with exit code 4: long enough for any sane load, short enough that a
/// lost message shows as an exit instead of a hang.
pub const PINGPONG_TIMEOUT_MS: i64 = 10_000;

/// Message passing: `main(n)` spawns a child running the `pong` export, then `n` times
/// sends it a counter (tag 1, 8 bytes, little-endian) and waits for the counter + 1 back.
/// When done it sends tag 0, which tells the child to return. The child echoes to whoever
/// sent each message, so any process can use a `pong`.
///
/// Exit codes of `main`: `0` every reply was right; `1` a reply was wrong; `2` the spawn
/// was refused (for example at capacity); `3` a send was refused; `4` no reply within
/// [`PINGPONG_TIMEOUT_MS`]. The child returns `normal(0)` on tag 0 or when its own
/// receive times out (its parent died).
///
/// Entries: `main (param i64)`, the number of round trips (also exported as
/// `pingpong`); `pong (param i64)`, argument ignored.
pub const PINGPONG: &str = concat!(
    "(module",
    pingpong_imports!(),
    pingpong_funcs!(),
    "  (export \"main\" (func $pingpong)))\n"
);

/// Defines the [`MIXED`] module together with the constants it is built from, so the
/// numbers in its text and in the docs cannot drift apart.
macro_rules! mixed_guest {
    (spin: $spin:literal, yields: $yields:literal, sleep_ms: $sleep:literal, rounds: $rounds:literal) => {
        /// Iterations of the spinner kind of [`MIXED`]: about 0.1 s of one core with fuel
        /// metering on (measured: 0.11–0.12 s on a 2-core x86 VM), so the 25
        /// spinners of `shoal run --procs 100` keep two workers busy for about 1.5 s, long
        /// enough that the other kinds must share the workers with them.
        pub const MIXED_SPIN_ITERATIONS: i64 = $spin;
        /// Yields of the yielder kind of [`MIXED`].
        pub const MIXED_YIELDS: i64 = $yields;
        /// Total sleep, in milliseconds, of the sleeper kind of [`MIXED`].
        pub const MIXED_SLEEP_MS: i64 = $sleep;
        /// Round trips of the sender kind of [`MIXED`].
        pub const MIXED_ROUNDS: i64 = $rounds;

        /// One module, four kinds of process: `main(i)` runs kind `i % 4` (the argument
        /// taken as unsigned), so spawning `main` with the process index gives an even mix.
        ///
        /// | `i % 4` | kind | work |
        /// |---|---|---|
        /// | 0 | spinner | counts to [`MIXED_SPIN_ITERATIONS`] without ever yielding |
        /// | 1 | yielder | calls `shoal.yield` [`MIXED_YIELDS`] times |
        /// | 2 | sleeper | sleeps [`MIXED_SLEEP_MS`] ms in [`SLEEPER_ROUNDS`] naps |
        /// | 3 | sender | spawns a `pong` child, [`MIXED_ROUNDS`] round trips with it |
        ///
        /// Every kind exits `normal(0)`; the sender exits with the codes of [`PINGPONG`]
        /// when something goes wrong. Each kind is also an export of its own taking its
        /// size as the argument: `spin(n)`, `yielder(n)`, `sleeper(ms)`, `pingpong(n)`,
        /// and the child `pong`.
        pub const MIXED: &str = concat!(
            "(module\n  (import \"shoal\" \"yield\" (func $yield))\n  (import \"shoal\" \"sleep\" (func $sleep (param i64)))",
            pingpong_imports!(),
            r#"
  (func (export "main") (param $arg i64)
    (block $sender
      (block $sleeper
        (block $yielder
          (block $spinner
            (br_table $spinner $yielder $sleeper $sender
              (i32.wrap_i64 (i64.rem_u (local.get $arg) (i64.const 4)))))
          (call $spin (i64.const "#,
            $spin,
            r#"))
          (return))
        (call $yielder (i64.const "#,
            $yields,
            r#"))
        (return))
      (call $sleeper (i64.const "#,
            $sleep,
            r#"))
      (return))
    (call $pingpong (i64.const "#,
            $rounds,
            r#")))
  (func $spin (export "spin") "#,
            count_body!(),
            ")\n  (func $yielder (export \"yielder\") ",
            yield_body!(),
            ")\n  (func $sleeper (export \"sleeper\") ",
            sleep_body!(),
            ")",
            pingpong_funcs!(),
            ")\n"
        );
    };
}

mixed_guest!(spin: 150_000_000, yields: 1000, sleep_ms: 100, rounds: 100);

/// Every built-in guest with its name, for tools and tests that want to try them all.
pub const ALL: &[(&str, &str)] = &[
    ("SPINNER", SPINNER),
    ("COUNTER", COUNTER),
    ("YIELDER", YIELDER),
    ("SLEEPER", SLEEPER),
    ("PINGPONG", PINGPONG),
    ("MIXED", MIXED),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExitReason, Runtime};

    fn runtime() -> Runtime {
        Runtime::builder()
            .workers(2)
            .capacity(64)
            .build()
            .expect("a small runtime builds")
    }

    #[test]
    fn every_guest_compiles() {
        let runtime = runtime();
        for (name, wat) in ALL {
            let module = runtime
                .compile_wat(wat)
                .unwrap_or_else(|e| panic!("guests::{name} does not compile: {e}"));
            module
                .check_entry("main")
                .unwrap_or_else(|e| panic!("guests::{name} has no entry `main`: {e}"));
        }
    }

    #[test]
    fn documented_constants_are_the_ones_in_the_wat() {
        let timeout = format!("(call $receive (i64.const {PINGPONG_TIMEOUT_MS}))");
        let naps = format!("(i64.const {SLEEPER_ROUNDS})");
        for (name, wat) in [("PINGPONG", PINGPONG), ("MIXED", MIXED)] {
            assert_eq!(wat.matches(&timeout).count(), 2, "{name}: receive timeouts");
        }
        for (name, wat) in [("SLEEPER", SLEEPER), ("MIXED", MIXED)] {
            assert!(
                wat.contains(&format!("(local.get $round) {naps}")),
                "{name}: naps"
            );
            assert!(
                wat.contains(&format!("(local.get $ms) {naps}")),
                "{name}: nap length"
            );
        }
        assert!(MIXED.contains(&format!("(call $spin (i64.const {MIXED_SPIN_ITERATIONS}))")));
    }

    #[test]
    fn mixed_exports_each_kind() {
        let module = runtime().compile_wat(MIXED).unwrap();
        for export in ["main", "spin", "yielder", "sleeper", "pingpong", "pong"] {
            module
                .check_entry(export)
                .unwrap_or_else(|e| panic!("MIXED `{export}`: {e}"));
        }
    }

    #[test]
    fn bounded_guests_exit_normally() {
        let runtime = runtime();
        let cases = [
            (COUNTER, 10_000),
            (YIELDER, 10),
            (SLEEPER, 8),
            (PINGPONG, 10),
        ];
        for (wat, arg) in cases {
            let module = runtime.compile_wat(wat).unwrap();
            let exit = runtime.spawn(&module, "main", arg).unwrap().wait();
            assert!(
                matches!(exit.reason, ExitReason::Normal { code: 0 }),
                "{wat}\nexited {:?}",
                exit.reason
            );
        }
    }

    #[test]
    fn mixed_runs_every_kind_to_a_normal_exit() {
        let runtime = runtime();
        let module = runtime.compile_wat(MIXED).unwrap();
        // Small sizes through the per-kind exports; `main` itself runs the full sizes.
        for (export, arg) in [
            ("spin", 10_000),
            ("yielder", 10),
            ("sleeper", 8),
            ("pingpong", 10),
        ] {
            let exit = runtime.spawn(&module, export, arg).unwrap().wait();
            assert!(
                matches!(exit.reason, ExitReason::Normal { code: 0 }),
                "MIXED `{export}` exited {:?}",
                exit.reason
            );
        }
    }

    #[test]
    fn spinner_runs_until_killed() {
        let runtime = runtime();
        let module = runtime.compile_wat(SPINNER).unwrap();
        let handle = runtime.spawn(&module, "main", 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            handle.try_exit().is_none(),
            "a spinner never exits by itself"
        );
        handle.kill();
        assert!(matches!(handle.wait().reason, ExitReason::Killed));
    }
}
