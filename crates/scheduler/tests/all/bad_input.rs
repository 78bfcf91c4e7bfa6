//! Every bad input is a typed error, or a clear trap of that process only.

use shoal_scheduler::{
    CompileError, ExitReason, GuestLimit, Runtime, SpawnError, SpawnOptions, TrapCode,
};

use crate::{LOOP, RECEIVER, epoch, exit_of, runtime};

#[test]
fn an_invalid_module_is_a_compile_error() {
    let rt = runtime(1, epoch());
    assert!(matches!(
        rt.compile(b"\0asm garbage"),
        Err(CompileError::Invalid { .. })
    ));
    assert!(matches!(
        rt.compile_wat("(module"),
        Err(CompileError::Invalid { .. })
    ));
    let type_error = rt.compile_wat(r#"(module (func (export "main") (result i32)))"#);
    assert!(matches!(type_error, Err(CompileError::Invalid { .. })));
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let rt = runtime(1, epoch());
    let err = rt.compile_file("/no/such/module.wasm").unwrap_err();
    assert!(matches!(err, CompileError::Io { .. }));
    assert!(err.to_string().contains("/no/such/module.wasm"), "{err}");
}

#[test]
fn an_unknown_import_is_named() {
    let rt = runtime(1, epoch());
    let err = rt
        .compile_wat(r#"(module (import "env" "f" (func)) (func (export "main")))"#)
        .unwrap_err();
    match err {
        CompileError::UnknownImport { module, name } => {
            assert_eq!((module.as_str(), name.as_str()), ("env", "f"))
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_shoal_import_with_the_wrong_type_is_refused_at_compile() {
    let rt = runtime(1, epoch());
    let err = rt
        .compile_wat(
            r#"(module (import "shoal" "self" (func (result i32))) (func (export "main")))"#,
        )
        .unwrap_err();
    assert!(matches!(err, CompileError::Invalid { .. }), "{err}");
}

#[test]
fn a_missing_export_and_a_wrong_signature_are_spawn_errors() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(r#"(module (func (export "two") (param i32 i32)) (func (export "main")))"#)
        .unwrap();
    assert_eq!(
        rt.spawn(&m, "nope", 0).unwrap_err(),
        SpawnError::MissingExport {
            export: "nope".into()
        }
    );
    assert!(matches!(
        rt.spawn(&m, "two", 0).unwrap_err(),
        SpawnError::WrongSignature { export, .. } if export == "two"
    ));
    assert_eq!(m.exports(), vec!["main".to_owned()]);
    assert_eq!(rt.stats().spawned, 0, "nothing was spawned");
}

#[test]
fn a_main_with_c_signature_is_refused_with_the_likely_cause() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module (func (export "main") (param i32 i32) (result i32) (i32.const 0))
                       (func (export "two") (param i32 i32) (result i32) (i32.const 0)))"#,
        )
        .unwrap();
    let main = rt.spawn(&m, "main", 0).unwrap_err().to_string();
    assert!(main.contains("C's `main(argc, argv)`"), "{main}");
    let other = rt.spawn(&m, "two", 0).unwrap_err().to_string();
    assert!(
        !other.contains("argc"),
        "only `main` gets the hint: {other}"
    );
}

/// Sends `len` bytes from `ptr`, both given by the argument: ptr = arg >> 32, len = arg.
const SEND_RANGE: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $arg i64) (result i32)
    (call $send (call $self) (i64.const 0)
      (i32.wrap_i64 (i64.shr_u (local.get $arg) (i64.const 32)))
      (i32.wrap_i64 (local.get $arg)))))"#;

#[test]
fn an_out_of_bounds_pointer_traps_only_that_process() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(SEND_RANGE).unwrap();
    let bystanders: Vec<_> = (0..10)
        .map(|_| {
            rt.spawn(&rt.compile_wat(LOOP).unwrap(), "main", 100_000)
                .unwrap()
        })
        .collect();
    // And one that is certainly alive through all of the traps: it waits for a message.
    let waiter = rt
        .spawn(&rt.compile_wat(RECEIVER).unwrap(), "main", 0)
        .unwrap();
    let page = 65_536i64;
    for arg in [
        (page - 4) << 32 | 8,        // runs 4 bytes past the end
        (page + 100) << 32 | 1,      // starts past the end
        (0xFFFF_FFF0i64 << 32) | 64, // wraps past 4 GiB
        0xFFFF_FFFF,                 // negative length
    ] {
        let exit = exit_of(&rt.spawn(&m, "main", arg).unwrap());
        match exit.reason {
            ExitReason::Trap {
                code: TrapCode::BadPointer,
                message,
            } => {
                assert!(message.contains("shoal.send"), "{message}")
            }
            other => panic!("arg {arg:#x}: {other}"),
        }
    }
    // In bounds: a normal send to itself.
    let ok = exit_of(&rt.spawn(&m, "main", (page - 8) << 32 | 8).unwrap());
    assert_eq!(ok.reason, ExitReason::Normal { code: 0 });
    for b in bystanders {
        assert!(exit_of(&b).reason.is_normal());
    }
    rt.send(waiter.pid(), 0, [1, 2, 3, 4]).unwrap();
    assert_eq!(exit_of(&waiter).reason, ExitReason::Normal { code: 4 });
}

#[test]
fn a_pointer_call_without_an_exported_memory_traps() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
              (func (export "main") (result i32)
                (call $send (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 1))))"#,
        )
        .unwrap();
    assert!(matches!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Trap {
            code: TrapCode::BadPointer,
            ..
        }
    ));
}

#[test]
fn a_spawn_past_capacity_is_refused_and_the_runtime_keeps_working() {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(epoch())
        .capacity(3)
        .build()
        .unwrap();
    let m = rt.compile_wat(RECEIVER).unwrap();
    let live: Vec<_> = (0..3).map(|_| rt.spawn(&m, "main", 0).unwrap()).collect();
    assert_eq!(
        rt.spawn(&m, "main", 0).unwrap_err(),
        SpawnError::Capacity { capacity: 3 }
    );
    // A guest's spawn past capacity gets the CAPACITY status, not a crash.
    rt.send(live[0].pid(), 0, []).unwrap();
    exit_of(&live[0]);
    let spawner = rt
        .compile_wat(
            r#"(module
              (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
              (import "shoal" "receive" (func $receive (param i64) (result i64)))
              (memory (export "memory") 1)
              (data (i32.const 0) "wait")
              (func (export "main") (result i32)
                (i32.wrap_i64 (call $spawn (i32.const 0) (i32.const 4) (i64.const 0))))
              (func (export "wait") (drop (call $receive (i64.const -1)))))"#,
        )
        .unwrap();
    let s = rt.spawn(&spawner, "main", 0).unwrap();
    assert_eq!(
        exit_of(&s).reason,
        ExitReason::Normal {
            code: shoal_scheduler::status::CAPACITY
        }
    );
    // Once slots free up, spawns succeed again, over and over.
    for h in &live[1..] {
        h.kill();
        exit_of(h);
    }
    for _ in 0..20 {
        let hs: Vec<_> = (0..3).map(|_| rt.spawn(&m, "main", 0).unwrap()).collect();
        for h in hs {
            h.kill();
            assert!(matches!(exit_of(&h).reason, ExitReason::Killed));
        }
    }
}

#[test]
fn a_guest_spawn_of_a_bad_export_gets_the_bad_export_status() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
              (memory (export "memory") 1)
              (data (i32.const 0) "nope")
              (func (export "main") (result i32)
                (i32.wrap_i64 (call $spawn (i32.const 0) (i32.const 4) (i64.const 0)))))"#,
        )
        .unwrap();
    assert_eq!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Normal {
            code: shoal_scheduler::status::BAD_EXPORT
        }
    );
}

#[test]
fn per_process_options_are_validated_by_name() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(LOOP).unwrap();
    let err = rt
        .spawn_with(
            &m,
            "main",
            0,
            shoal_scheduler::SpawnOptions::new().fuel_limit(10),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::Config {
                setting: "fuel_limit",
                ..
            }
        ),
        "{err}"
    );
    let err = rt
        .spawn_with(
            &m,
            "main",
            0,
            shoal_scheduler::SpawnOptions::new().max_memory(1 << 40),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::Config {
                setting: "max_memory",
                ..
            }
        ),
        "{err}"
    );
}

/// 300 pages: 18.75 MiB, above the 16 MiB default, as GCC's `cc1` starts at 298.
const LARGE_MEMORY: &str =
    r#"(module (memory 300) (func (export "main") (result i32) (memory.size)))"#;

#[test]
fn a_memory_that_starts_above_max_memory_is_refused_at_spawn_naming_the_setting_and_flag() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(LARGE_MEMORY).unwrap();
    let err = rt.spawn(&m, "main", 0).unwrap_err();
    assert_eq!(
        err,
        SpawnError::ExceedsLimit {
            limit: GuestLimit::Memory,
            needed: 300 << 16,
            allowed: shoal_scheduler::DEFAULT_MAX_MEMORY as u64,
        }
    );
    let message = err.to_string();
    assert!(message.contains("RuntimeBuilder::max_memory"), "{message}");
    assert!(message.contains("--max-memory"), "{message}");
}

#[test]
fn a_memory_that_starts_above_the_default_runs_under_a_raised_max_memory() {
    let rt = Runtime::builder()
        .workers(1)
        .max_memory(32 << 20)
        .build()
        .unwrap();
    let m = rt.compile_wat(LARGE_MEMORY).unwrap();
    assert_eq!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Normal { code: 300 }
    );
    let capped = SpawnOptions::new().max_memory(16 << 20);
    assert!(matches!(
        rt.spawn_with(&m, "main", 0, capped),
        Err(SpawnError::ExceedsLimit {
            limit: GuestLimit::Memory,
            allowed: 0x100_0000,
            ..
        })
    ));
}

#[test]
fn a_table_above_max_table_elements_is_refused_at_spawn_and_runs_when_raised() {
    let wat = r#"(module (table 10433 funcref) (func (export "main") (result i32) (table.size)))"#;
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(wat).unwrap();
    let err = rt.spawn(&m, "main", 0).unwrap_err();
    assert_eq!(
        err,
        SpawnError::ExceedsLimit {
            limit: GuestLimit::TableElements,
            needed: 10_433,
            allowed: u64::from(shoal_scheduler::DEFAULT_MAX_TABLE_ELEMENTS),
        }
    );
    assert!(err.to_string().contains("--max-table-elements"), "{err}");

    let rt = Runtime::builder()
        .workers(1)
        .max_table_elements(20_000)
        .build()
        .unwrap();
    let m = rt.compile_wat(wat).unwrap();
    assert_eq!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Normal { code: 10_433 }
    );
}

#[test]
fn a_table_grow_past_max_table_elements_returns_minus_one() {
    let rt = Runtime::builder()
        .workers(1)
        .max_table_elements(8)
        .build()
        .unwrap();
    let m = rt
        .compile_wat(
            r#"(module (table 4 funcref)
                 (func (export "main") (result i32)
                   (drop (table.grow (ref.null func) (i32.const 4)))
                   (i32.add (i32.mul (table.grow (ref.null func) (i32.const 1)) (i32.const 100))
                            (table.size))))"#,
        )
        .unwrap();
    // The first grow reaches 8 and succeeds; the second would pass 8 and returns -1.
    assert_eq!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Normal { code: -100 + 8 }
    );
}

#[test]
fn a_module_with_two_memories_is_refused_at_compile() {
    let rt = runtime(1, epoch());
    let err = rt
        .compile_wat(r#"(module (memory 1) (memory 1) (func (export "main")))"#)
        .unwrap_err();
    assert!(matches!(err, CompileError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("2 linear memories"), "{err}");
}

#[test]
fn a_value_that_is_no_pid_or_a_pid_of_another_node_names_no_process() {
    let rt = runtime(1, epoch());
    // send to self | 2^62 (a reference's range), to self on node 1 (no cluster here) and
    // to -5; monitor of -5. Each answers NOPROC (-1): 100·a + 10·b + c + 1000·d.
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "self" (func $self (result i64)))
              (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
              (import "shoal" "monitor" (func $monitor (param i64) (result i64)))
              (memory (export "memory") 1)
              (func (export "main") (result i32)
                (i32.add
                  (i32.add
                    (i32.mul (i32.const 100)
                      (call $send (i64.or (call $self) (i64.const 0x4000000000000000))
                                  (i64.const 0) (i32.const 0) (i32.const 0)))
                    (i32.mul (i32.const 10)
                      (call $send (i64.or (call $self) (i64.const 0x1000000000000))
                                  (i64.const 0) (i32.const 0) (i32.const 0))))
                  (i32.add
                    (call $send (i64.const -5) (i64.const 0) (i32.const 0) (i32.const 0))
                    (i32.mul (i32.const 1000)
                      (i32.wrap_i64 (call $monitor (i64.const -5))))))))"#,
        )
        .unwrap();
    assert_eq!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Normal { code: -1111 }
    );
}
