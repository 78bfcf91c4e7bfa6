//! WASI preview 1 command modules as processes: stdio, arguments, exits, sleeping in
//! `poll_oneoff` without a worker, shared preopens, preemption and fuel.

use std::time::Duration;

use shoal_scheduler::{
    CacheOutcome, CompileError, ExitReason, Output, Runtime, SpawnOptions, State, Stdin,
    WaitReason, WasiConfig,
};

use crate::{epoch, exit_of, runtime, wait_for_state};

/// Writes "hello\n" to stdout (fd 1), then `proc_exit(3)`.
const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 3))))"#;

/// Exits with its argument count plus 10 times its environment count.
const ARGS: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $args (i32.const 0) (i32.const 4)))
    (drop (call $env (i32.const 8) (i32.const 12)))
    (call $proc_exit (i32.add (i32.load (i32.const 0))
                              (i32.mul (i32.const 10) (i32.load (i32.const 8)))))))"#;

/// Copies stdin to stdout in 4 KiB reads, then returns.
const CAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $copy
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.gt_u (i32.load (i32.const 8)) (i32.const 0))
        (then
          (i32.store (i32.const 4) (i32.load (i32.const 8)))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
          (br $copy))))))"#;

/// Sleeps 200 ms in `poll_oneoff` (one relative clock subscription), then exits 0, or 1
/// if the call failed.
const SLEEPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 7))            ;; userdata
    (i32.store8 (i32.const 8) (i32.const 0))           ;; tag: clock
    (i32.store (i32.const 16) (i32.const 1))           ;; clock id: monotonic
    (i64.store (i32.const 24) (i64.const 200000000))   ;; timeout: 200 ms
    (i64.store (i32.const 32) (i64.const 0))           ;; precision
    (i32.store16 (i32.const 40) (i32.const 0))         ;; flags: relative
    (call $proc_exit
      (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#;

/// A WASI module that never calls the host in its loop.
const SPIN: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))"#;

/// A WASI module that also imports `shoal`: blocks in a Shoal receive, then exits with
/// the message's length through `proc_exit`.
const MIXED: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $proc_exit (i32.wrap_i64 (call $receive (i64.const -1))))))"#;

fn captured() -> WasiConfig {
    WasiConfig::new()
        .stdout(Output::Capture)
        .stderr(Output::Capture)
}

#[test]
fn a_command_writes_to_captured_stdout_and_proc_exit_sets_its_code() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(HELLO).unwrap();
    assert!(m.uses_wasi());
    let h = rt
        .spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(captured()))
        .unwrap();
    let exit = exit_of(&h);
    assert_eq!(exit.reason, ExitReason::Normal { code: 3 });
    let output = exit.output.expect("captured");
    assert_eq!(output.stdout, b"hello\n");
    assert!(output.stderr.is_empty());
}

#[test]
fn arguments_and_environment_reach_the_guest() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(ARGS).unwrap();
    let config = WasiConfig::new()
        .args(["prog.wasm", "a", "b"])
        .env("K", "V")
        .env("L", "W");
    let h = rt
        .spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(config))
        .unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 23 });
    // Without a config: no arguments, no environment, nothing captured.
    let bare = rt.spawn(&m, "_start", 0).unwrap();
    let exit = exit_of(&bare);
    assert_eq!(exit.reason, ExitReason::Normal { code: 0 });
    assert!(exit.output.is_none());
}

#[test]
fn fifty_processes_each_copy_their_own_stdin_to_their_own_stdout() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(CAT).unwrap();
    let inputs: Vec<Vec<u8>> = (0..50u32)
        .map(|i| (0..(i * 997) % 20_000).map(|j| (i + j) as u8).collect())
        .collect();
    let handles: Vec<_> = inputs
        .iter()
        .map(|input| {
            let config = captured().stdin(Stdin::Bytes(input.clone().into()));
            rt.spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(config))
                .unwrap()
        })
        .collect();
    for (h, input) in handles.iter().zip(&inputs) {
        let exit = exit_of(h);
        assert_eq!(exit.reason, ExitReason::Normal { code: 0 });
        assert_eq!(&exit.output.unwrap().stdout, input);
    }
}

#[test]
fn stdin_from_a_missing_file_is_a_spawn_error_naming_it() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(CAT).unwrap();
    let config = WasiConfig::new().stdin(Stdin::File("/nonexistent/input".into()));
    let error = rt
        .spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(config))
        .unwrap_err();
    assert!(error.to_string().contains("/nonexistent/input"), "{error}");
    assert_eq!(rt.stats().live, 0, "nothing was spawned");
}

#[test]
fn a_guest_sleeping_in_poll_oneoff_holds_no_worker() {
    let rt = runtime(1, epoch());
    let sleeper = rt.compile_wat(SLEEPER).unwrap();
    let hello = rt.compile_wat(HELLO).unwrap();
    let h = rt.spawn(&sleeper, "_start", 0).unwrap();
    wait_for_state(&rt, h.pid(), State::Waiting(WaitReason::HostCall));
    // The only worker is free: another process runs to its end while the sleeper sleeps.
    let other = rt.spawn(&hello, "_start", 0).unwrap();
    assert_eq!(exit_of(&other).reason, ExitReason::Normal { code: 3 });
    assert!(h.try_exit().is_none(), "still asleep");
    let exit = exit_of(&h);
    assert_eq!(
        exit.reason,
        ExitReason::Normal { code: 0 },
        "poll_oneoff succeeded"
    );
    let waited = exit.accounting.waiting;
    assert!(waited >= Duration::from_millis(150), "waited {waited:?}");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_preopened_directory_is_opened_once_for_all_its_processes() {
    const N: usize = 300;
    let rt = Runtime::builder()
        .workers(2)
        .preemption(epoch())
        .build()
        .unwrap();
    let m = rt.compile_wat(MIXED).unwrap();
    let dir = std::env::temp_dir();
    let config = WasiConfig::new().preopen_dir(&dir, "/tmp", true).unwrap();
    let before = open_fds();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            rt.spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(config.clone()))
                .unwrap()
        })
        .collect();
    for h in &handles {
        wait_for_state(&rt, h.pid(), State::Waiting(WaitReason::Receive));
    }
    let during = open_fds();
    assert!(
        during < before + N / 10,
        "{N} live processes with a preopen hold {} more descriptors",
        during.saturating_sub(before)
    );
    for h in &handles {
        rt.send(h.pid(), 0, vec![0; 4]).unwrap();
    }
    for h in &handles {
        assert_eq!(exit_of(h).reason, ExitReason::Normal { code: 4 });
    }
    assert!(
        WasiConfig::new()
            .preopen_dir("/nonexistent/dir", "/x", true)
            .is_err()
    );
}

#[test]
fn a_wasi_loop_that_never_calls_the_host_is_preempted_and_killed() {
    let rt = runtime(1, epoch());
    let spin = rt.compile_wat(SPIN).unwrap();
    let hello = rt.compile_wat(HELLO).unwrap();
    let spinner = rt.spawn(&spin, "_start", 0).unwrap();
    let short: Vec<_> = (0..100)
        .map(|_| rt.spawn(&hello, "_start", 0).unwrap())
        .collect();
    for h in &short {
        assert_eq!(exit_of(h).reason, ExitReason::Normal { code: 3 });
    }
    assert!(spinner.try_exit().is_none(), "the spinner still runs");
    spinner.kill();
    assert_eq!(exit_of(&spinner).reason, ExitReason::Killed);
}

#[test]
fn a_fuel_limit_ends_a_wasi_program_as_out_of_fuel() {
    let rt = Runtime::builder()
        .workers(1)
        .fuel_metering(true)
        .build()
        .unwrap();
    let spin = rt.compile_wat(SPIN).unwrap();
    let h = rt
        .spawn_with(
            &spin,
            "_start",
            0,
            SpawnOptions::new().fuel_limit(5_000_000),
        )
        .unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::OutOfFuel);
}

#[test]
fn an_unknown_wasi_function_is_a_compile_error_naming_it() {
    let rt = runtime(1, epoch());
    let error = rt
        .compile_wat(
            r#"(module (import "wasi_snapshot_preview1" "no_such_call" (func)) (func (export "_start")))"#,
        )
        .unwrap_err();
    assert!(error.to_string().contains("no_such_call"), "{error}");
}

#[test]
fn a_cached_module_is_compiled_once_then_loaded_and_a_corrupt_entry_is_replaced() {
    let dir = std::env::temp_dir().join(format!("shoal-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = runtime(1, epoch());
    let (m, first) = rt.compile_cached(HELLO.as_bytes(), &dir).unwrap();
    assert_eq!(first, CacheOutcome::Stored);
    let (again, second) = rt.compile_cached(HELLO.as_bytes(), &dir).unwrap();
    assert_eq!(second, CacheOutcome::Hit);
    for module in [&m, &again] {
        let h = rt.spawn(module, "_start", 0).unwrap();
        assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 3 });
    }
    // Another module is another entry.
    let (_, other) = rt.compile_cached(ARGS.as_bytes(), &dir).unwrap();
    assert_eq!(other, CacheOutcome::Stored);
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 2);
    // A corrupt entry is refused by wasmtime, recompiled and replaced.
    for entry in entries {
        std::fs::write(entry.unwrap().path(), b"not a compiled module").unwrap();
    }
    let (fixed, outcome) = rt.compile_cached(HELLO.as_bytes(), &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Stored);
    let h = rt.spawn(&fixed, "_start", 0).unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 3 });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cache_directory_or_entry_others_may_write_is_refused_before_anything_is_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("shoal-cache-trust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = runtime(1, epoch());
    rt.compile_cached(HELLO.as_bytes(), &dir).unwrap();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(
        mode(&dir) & 0o777,
        0o700,
        "a directory it creates is private"
    );
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&entry) & 0o777, 0o600, "an entry it writes is private");

    let set = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(&entry, 0o666);
    let refused = rt.compile_cached(HELLO.as_bytes(), &dir).unwrap_err();
    assert!(
        matches!(&refused, CompileError::UntrustedCache { path, .. } if *path == entry),
        "{refused}"
    );
    set(&entry, 0o600);
    set(&dir, 0o777);
    let refused = rt.compile_cached(HELLO.as_bytes(), &dir).unwrap_err();
    assert!(
        matches!(&refused, CompileError::UntrustedCache { path, .. } if *path == dir),
        "{refused}"
    );
    assert!(refused.to_string().contains("chmod go-w"), "{refused}");
    set(&dir, 0o700);
    let (_, outcome) = rt.compile_cached(HELLO.as_bytes(), &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a Rust program compiled for wasm32-wasip1 does when it panics: the message to
/// stderr, then `unreachable`.
const PANICS: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "thread 'main' panicked at src/main.rs:2:5:\nboom\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 48))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable))"#;

#[test]
fn a_panicking_command_is_a_trap_and_its_message_is_on_its_stderr() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(PANICS).unwrap();
    let h = rt
        .spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(captured()))
        .unwrap();
    let exit = exit_of(&h);
    assert!(
        matches!(
            exit.reason,
            ExitReason::Trap {
                code: shoal_scheduler::TrapCode::UnreachableCodeReached,
                ..
            }
        ),
        "{}",
        exit.reason
    );
    let stderr = String::from_utf8(exit.output.unwrap().stderr.clone()).unwrap();
    assert!(
        stderr.contains("panicked at src/main.rs:2:5:\nboom"),
        "{stderr}"
    );
}

#[test]
fn output_to_a_file_is_complete_when_the_process_has_exited() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(CAT).unwrap();
    let dir = std::env::temp_dir().join(format!("shoal-out-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let handles: Vec<_> = (0..20u8)
        .map(|i| {
            let input: Vec<u8> = (0..50_000u32).map(|j| (j as u8) ^ i).collect();
            let config = WasiConfig::new()
                .stdin(Stdin::Bytes(input.into()))
                .stdout(Output::File(dir.join(format!("{i}.out"))));
            rt.spawn_with(&m, "_start", 0, SpawnOptions::new().wasi(config))
                .unwrap()
        })
        .collect();
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(exit_of(h).reason, ExitReason::Normal { code: 0 });
        let written = std::fs::read(dir.join(format!("{i}.out"))).unwrap();
        let expected: Vec<u8> = (0..50_000u32).map(|j| (j as u8) ^ i as u8).collect();
        assert!(written == expected, "file {i}: {} bytes", written.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
