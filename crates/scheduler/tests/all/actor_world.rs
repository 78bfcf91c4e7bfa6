//! The `shoal:actor` world (wit/actor.wit): a component that imports it is an actor
//! process beside core-module guests. The host's functions match the WIT exactly (a
//! component generated from the WIT links), and a component written in WAT exchanges
//! messages with a core guest.

use shoal_scheduler::{ExitReason, Runtime, SpawnError, TrapCode};

use crate::{epoch, exit_of, runtime};

/// A component of the world generated from wit/actor.wit by `wit-component`: it imports
/// every interface as the WIT declares it and exports `run`, whose body traps.
fn world_dummy() -> Vec<u8> {
    let wit = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit");
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_path(wit).expect("wit/ parses");
    let world = resolve
        .select_world(&[package], Some("actor"))
        .expect("the package has the world `actor`");
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("metadata embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("the dummy is a valid core module")
        .validate(true)
        .encode()
        .expect("the dummy encodes as a component")
}

#[test]
fn a_component_generated_from_the_wit_world_links_and_its_run_is_an_entry() {
    let rt = runtime(1, epoch());
    let module = rt
        .compile(&world_dummy())
        .expect("the host provides every function of the world, with the WIT's types");
    assert!(module.is_component());
    assert!(!module.uses_wasi(), "the world imports no WASI");
    assert_eq!(module.exports(), ["run"]);
    // The dummy's `run` is `unreachable`: it instantiates, with every import, and runs.
    let exit = exit_of(&rt.spawn(&module, "run", 0).unwrap());
    assert_eq!(
        exit.reason,
        ExitReason::Trap {
            code: TrapCode::UnreachableCodeReached,
            message: exit_message(&exit.reason),
        }
    );
}

/// The message of a trap, whatever wasmtime words it as.
fn exit_message(reason: &ExitReason) -> String {
    match reason {
        ExitReason::Trap { message, .. } => message.clone(),
        other => panic!("not a trap: {other:?}"),
    }
}

/// The `messages` interface's import, with the types its functions use exported as the
/// WIT's `types` interface declares them.
const MESSAGES_IMPORT: &str = r#"
  (import "shoal:actor/messages@0.1.0" (instance $messages
    (type $kind (enum "data" "exit" "down"))
    (export "message-kind" (type $kind-e (eq $kind)))
    (type $message (record
      (field "kind" $kind-e)
      (field "sender" (option u64))
      (field "tag" u64)
      (field "data" (list u8))))
    (export "message" (type $message-e (eq $message)))
    (type $error (enum "noproc" "mailbox-full" "capacity" "bad-export" "too-large"
      "shutting-down" "name-taken" "already-named" "bad-reason" "bad-name" "over-budget"
      "refused" "node-busy"))
    (export "error" (type $error-e (eq $error)))
    (export "send" (func (param "to" u64) (param "tag" u64) (param "data" (list u8))
      (result (result (error $error-e)))))
    (export "receive" (func (param "timeout-ms" (option u64)) (result (option $message-e))))))
  (alias export $messages "send" (func $send))
  (alias export $messages "receive" (func $receive))
"#;

/// A memory and a bump allocator for the canonical ABI to copy into.
const LIBC: &str = r#"
  (core module $libc
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (global.get $next))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at)))
  (core instance $libc (instantiate $libc))
  (core func $send (canon lower (func $send) (memory (core memory $libc "memory"))))
  (core func $receive (canon lower (func $receive) (memory (core memory $libc "memory"))
    (realloc (core func $libc "realloc"))))
"#;

/// An echo actor: `run` waits for one message and sends its tag and bytes back to its
/// sender. Exit 0 when the send is `ok`; 1 if `receive` gave `none`; `2 + error` if the
/// send was refused. The received `option<message>` is at 0: the case at 0, then the
/// message at 8 (kind 8, sender's case 16 and pid 24, tag 32, bytes' pointer 40 and
/// length 44); the send's `result` at 64.
fn echo() -> String {
    format!(
        r#"(component {MESSAGES_IMPORT} {LIBC}
  (core module $main
    (import "libc" "memory" (memory 1))
    (import "shoal" "send" (func $send (param i64 i64 i32 i32 i32)))
    (import "shoal" "receive" (func $receive (param i32 i64 i32)))
    (func (export "run") (param i64) (result i32)
      (call $receive (i32.const 0) (i64.const 0) (i32.const 0))
      (if (i32.eqz (i32.load8_u (i32.const 0))) (then (return (i32.const 1))))
      (call $send (i64.load (i32.const 24)) (i64.load (i32.const 32))
        (i32.load (i32.const 40)) (i32.load (i32.const 44)) (i32.const 64))
      (if (i32.load8_u (i32.const 64))
        (then (return (i32.add (i32.const 2) (i32.load8_u (i32.const 65))))))
      (i32.const 0)))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "shoal" (instance (export "send" (func $send)) (export "receive" (func $receive))))))
  (func (export "run") (param "arg" u64) (result s32) (canon lift (core func $main "run"))))"#
    )
}

/// A core guest that sends "hello" with tag 7 to the pid it is given, waits for the
/// reply, and exits with its length, or 100 for a wrong tag, 101 for a wrong sender and
/// 102 for wrong bytes.
const PINGER: &str = r#"(module
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (func (export "main") (param $echo i64) (result i32)
    (local $len i32)
    (drop (call $send (local.get $echo) (i64.const 7) (i32.const 0) (i32.const 5)))
    (drop (call $receive (i64.const -1)))
    (if (i64.ne (call $tag) (i64.const 7)) (then (return (i32.const 100))))
    (if (i64.ne (call $sender) (local.get $echo)) (then (return (i32.const 101))))
    (local.set $len (call $read (i32.const 16) (i32.const 64)))
    (if (i32.or
          (i32.ne (i32.load (i32.const 16)) (i32.load (i32.const 0)))
          (i32.ne (i32.load8_u (i32.const 20)) (i32.load8_u (i32.const 4))))
      (then (return (i32.const 102))))
    (local.get $len)))"#;

#[test]
fn a_wat_actor_component_and_a_core_guest_exchange_messages() {
    // One worker: the component waits in `receive` holding none, or the pinger never runs.
    let rt = runtime(1, epoch());
    let echo = rt.compile_wat(&echo()).unwrap();
    assert!(echo.is_component() && !echo.uses_wasi());
    assert_eq!(echo.exports(), ["run"]);
    let pinger = rt.compile_wat(PINGER).unwrap();
    let echo_process = rt.spawn(&echo, "run", 0).unwrap();
    let pinger_process = rt
        .spawn(&pinger, "main", echo_process.pid().to_bits() as i64)
        .unwrap();
    assert_eq!(
        exit_of(&pinger_process).reason,
        ExitReason::Normal { code: 5 }
    );
    assert_eq!(
        exit_of(&echo_process).reason,
        ExitReason::Normal { code: 0 }
    );
}

#[test]
fn an_actor_components_send_to_a_dead_pid_is_noproc() {
    let rt = runtime(1, epoch());
    let echo = rt.compile_wat(&echo()).unwrap();
    // A guest sends to the echo and dies before the echo answers: the echo's send
    // finds no process and returns `noproc`, case 0: exit 2 + 0.
    let quitter = rt
        .compile_wat(
            r#"(module
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $echo i64) (result i32)
    (call $send (local.get $echo) (i64.const 1) (i32.const 0) (i32.const 0))))"#,
        )
        .unwrap();
    let echo_process = rt.spawn(&echo, "run", 0).unwrap();
    let quit = rt
        .spawn(&quitter, "main", echo_process.pid().to_bits() as i64)
        .unwrap();
    assert_eq!(exit_of(&quit).reason, ExitReason::Normal { code: 0 });
    assert_eq!(
        exit_of(&echo_process).reason,
        ExitReason::Normal { code: 2 }
    );
}

#[test]
fn a_spawn_of_an_actor_components_missing_or_ill_typed_export_is_refused() {
    let rt: Runtime = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(component
  (core module $m (func (export "f") (param i32)) (func (export "g")))
  (core instance $i (instantiate $m))
  (func (export "bad") (param "x" u32) (canon lift (core func $i "f")))
  (func (export "run") (canon lift (core func $i "g"))))"#,
        )
        .unwrap();
    assert_eq!(m.exports(), ["run"]);
    assert_eq!(
        exit_of(&rt.spawn(&m, "run", 0).unwrap()).reason,
        ExitReason::Normal { code: 0 }
    );
    assert!(matches!(
        rt.spawn(&m, "main", 0),
        Err(SpawnError::MissingExport { export }) if export == "main"
    ));
    match rt.spawn(&m, "bad", 0) {
        Err(SpawnError::WrongSignature { export, found }) => {
            assert_eq!(
                (export.as_str(), found.as_str()),
                ("bad", "func(u32) -> ()")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_component_that_exports_no_entry_and_no_command_is_refused_at_compile() {
    let rt = runtime(1, epoch());
    let no_entry = r#"(component
  (core module $m (func (export "f") (param i32)))
  (core instance $i (instantiate $m))
  (func (export "bad") (param "x" u32) (canon lift (core func $i "f"))))"#;
    assert!(matches!(
        rt.compile_wat(no_entry),
        Err(shoal_scheduler::CompileError::Unsupported { .. })
    ));
}

/// The `process` and `time` imports a family needs, and their lowered core functions.
const PROCESS_AND_TIME: &str = r#"
  (import "shoal:actor/process@0.1.0" (instance $process
    (type $error (enum "noproc" "mailbox-full" "capacity" "bad-export" "too-large"
      "shutting-down" "name-taken" "already-named" "bad-reason" "bad-name" "over-budget"
      "refused" "node-busy"))
    (export "error" (type $error-e (eq $error)))
    (export "spawn-monitor" (func (param "entry" string) (param "arg" u64)
      (result (result (tuple u64 u64) (error $error-e)))))
    (export "exit" (func (param "code" s32)))))
  (import "shoal:actor/time@0.1.0" (instance $time (export "sleep" (func (param "ms" u64)))))
  (alias export $process "spawn-monitor" (func $spawn-monitor))
  (alias export $process "exit" (func $exit))
  (alias export $time "sleep" (func $sleep))
"#;

/// `run(0)` spawns `run(1)` with `spawn-monitor`, which sleeps 5 ms and calls `exit(7)`;
/// the parent then receives the child's `down` and checks it: kind `down`, sent by the
/// child's pid, tagged with the monitor's reference. Exit 0 when all holds, 10 for a
/// refused spawn, 11 for no message, 12 for another kind, 13 for another sender, 14 for
/// another tag. The spawn's `result` is at 128 (the pid at 136, the reference at 144).
fn family() -> String {
    format!(
        r#"(component {MESSAGES_IMPORT} {PROCESS_AND_TIME} {LIBC}
  (core func $spawn-monitor (canon lower (func $spawn-monitor)
    (memory (core memory $libc "memory"))))
  (core func $exit (canon lower (func $exit)))
  (core func $sleep (canon lower (func $sleep)))
  (core module $main
    (import "libc" "memory" (memory 1))
    (import "shoal" "spawn-monitor" (func $spawn (param i32 i32 i64 i32)))
    (import "shoal" "exit" (func $exit (param i32)))
    (import "shoal" "sleep" (func $sleep (param i64)))
    (import "shoal" "receive" (func $receive (param i32 i64 i32)))
    (data (i32.const 512) "run")
    (func (export "run") (param $arg i64) (result i32)
      (if (i64.ne (local.get $arg) (i64.const 0))
        (then (call $sleep (i64.const 5)) (call $exit (i32.const 7)) (unreachable)))
      (call $spawn (i32.const 512) (i32.const 3) (i64.const 1) (i32.const 128))
      (if (i32.load8_u (i32.const 128)) (then (return (i32.const 10))))
      (call $receive (i32.const 0) (i64.const 0) (i32.const 0))
      (if (i32.eqz (i32.load8_u (i32.const 0))) (then (return (i32.const 11))))
      (if (i32.ne (i32.load8_u (i32.const 8)) (i32.const 2)) (then (return (i32.const 12))))
      (if (i64.ne (i64.load (i32.const 24)) (i64.load (i32.const 136)))
        (then (return (i32.const 13))))
      (if (i64.ne (i64.load (i32.const 32)) (i64.load (i32.const 144)))
        (then (return (i32.const 14))))
      (i32.const 0)))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "shoal" (instance
      (export "spawn-monitor" (func $spawn-monitor))
      (export "exit" (func $exit))
      (export "sleep" (func $sleep))
      (export "receive" (func $receive))))))
  (func (export "run") (param "arg" u64) (result s32) (canon lift (core func $main "run"))))"#
    )
}

#[test]
fn an_actor_component_spawns_its_own_entry_monitors_it_and_gets_its_down() {
    let rt = runtime(1, epoch());
    let family = rt.compile_wat(&family()).unwrap();
    let parent = rt.spawn(&family, "run", 0).unwrap();
    assert_eq!(exit_of(&parent).reason, ExitReason::Normal { code: 0 });
    // The child, `run(1)`, ended with its `exit(7)`.
    let child = rt.spawn(&family, "run", 1).unwrap();
    assert_eq!(exit_of(&child).reason, ExitReason::Normal { code: 7 });
}

#[test]
fn an_actor_components_out_of_bounds_list_ends_that_process_only() {
    let rt = runtime(1, epoch());
    // `send` of 16 bytes at 65,530, past the one-page memory: the component model's
    // lift of the list refuses it before the host sees a byte.
    let bad = format!(
        r#"(component {MESSAGES_IMPORT} {LIBC}
  (core module $main
    (import "libc" "memory" (memory 1))
    (import "shoal" "send" (func $send (param i64 i64 i32 i32 i32)))
    (func (export "run") (param $to i64) (result i32)
      (call $send (local.get $to) (i64.const 0) (i32.const 65530) (i32.const 16) (i32.const 64))
      (i32.const 0)))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "shoal" (instance (export "send" (func $send))))))
  (func (export "run") (param "arg" u64) (result s32) (canon lift (core func $main "run"))))"#
    );
    let bad = rt.compile_wat(&bad).unwrap();
    let echo = rt.compile_wat(&echo()).unwrap();
    let target = rt.spawn(&echo, "run", 0).unwrap();
    let exit = exit_of(
        &rt.spawn(&bad, "run", target.pid().to_bits() as i64)
            .unwrap(),
    );
    assert_eq!(
        exit.reason,
        ExitReason::Trap {
            code: TrapCode::BadPointer,
            message: "list pointer/length out of bounds of memory".into(),
        }
    );
    // The echo it was sending to is untouched: it still waits, and answers.
    let pinger = rt.compile_wat(PINGER).unwrap();
    let ping = rt
        .spawn(&pinger, "main", target.pid().to_bits() as i64)
        .unwrap();
    assert_eq!(exit_of(&ping).reason, ExitReason::Normal { code: 5 });
    assert_eq!(exit_of(&target).reason, ExitReason::Normal { code: 0 });
}
