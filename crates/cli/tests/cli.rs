//! The `shoal` binary as a user runs it: exit statuses, the one-line errors, the JSON.
//! Workloads are the built-in module's per-kind exports with small sizes, so each run
//! takes milliseconds.

use std::process::{Command, Output};

use serde_json::Value;

fn shoal(args: &[&str]) -> Output {
    shoal_caching_in(&test_cache(), args)
}

/// The cache directory the tests' runs use by default (`XDG_CACHE_HOME`), so that they
/// never write to the user's.
fn test_cache() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("shoal-cli-cache-{}", std::process::id()))
}

/// `shoal ARGS` with `XDG_CACHE_HOME` set to `cache_home`.
fn shoal_caching_in(cache_home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .env("XDG_CACHE_HOME", cache_home)
        .output()
        .expect("the shoal binary runs")
}

/// `shoal SUBCOMMAND --json ARGS`, checked to succeed, as JSON.
fn json_of(subcommand: &str, args: &[&str]) -> Value {
    let mut all = vec![subcommand, "--json"];
    all.extend_from_slice(args);
    let out = shoal(&all);
    assert!(
        out.status.success(),
        "shoal {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

/// `shoal run --json ARGS`, checked to succeed, as JSON.
fn json(args: &[&str]) -> Value {
    json_of("run", args)
}

/// The single stderr line of a failed run, after checking its status is 2.
fn error_line(args: &[&str]) -> String {
    let out = shoal(args);
    assert_eq!(out.status.code(), Some(2), "shoal {args:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("shoal: error: "), "{stderr}");
    stderr
}

#[test]
fn json_report_has_every_exit_key_and_one_row_per_process() {
    // Fuel quanta, so that no wall-clock tick can preempt a yielder on a loaded machine
    // and add a quantum to the count checked below.
    let v = json(&[
        "--procs",
        "4",
        "--invoke",
        "yielder",
        "--arg",
        "10",
        "--preempt",
        "fuel",
    ]);
    assert_eq!(v["procs"], 4);
    for key in [
        "normal",
        "trap",
        "out_of_fuel",
        "deadline",
        "killed",
        "host_error",
    ] {
        assert!(v["exits"][key].is_u64(), "exits.{key} missing");
    }
    assert_eq!(v["exits"]["normal"], 4);
    assert!(v["elapsed_s"].is_f64());
    assert!(
        v.get("schedule_hash").is_none(),
        "only with --deterministic"
    );
    let rows = v["processes"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert!(row["pid"].as_str().unwrap().starts_with('<'));
        assert_eq!(row["exit"], "normal");
        assert_eq!(row["code"], 0);
        assert_eq!(
            row["quanta"], 11,
            "10 yields end 10 quanta, the return ends one more"
        );
        assert!(row["fuel"].as_u64().unwrap() > 0);
    }
}

#[test]
fn deterministic_runs_repeat_their_schedule_hash() {
    let args = [
        "--deterministic",
        "--procs",
        "8",
        "--invoke",
        "spin",
        "--arg",
        "300000",
    ];
    let first = json(&args);
    let second = json(&args);
    let hash = first["schedule_hash"]
        .as_str()
        .expect("a hash in deterministic mode");
    assert_eq!(hash.len(), 16);
    assert_eq!(first["schedule_hash"], second["schedule_hash"]);
    assert_eq!(first["workers"], 1);
}

#[test]
fn fuel_limit_ends_processes_as_out_of_fuel_and_the_run_still_succeeds() {
    let v = json(&[
        "--procs",
        "3",
        "--invoke",
        "spin",
        "--arg",
        "100000000",
        "--fuel-limit",
        "100000",
    ]);
    assert_eq!(v["exits"]["out_of_fuel"], 3);
    assert_eq!(v["processes"][0]["code"], Value::Null);
}

#[test]
fn a_missing_file_is_one_error_line_and_status_2() {
    let line = error_line(&["run", "/nonexistent/m.wasm"]);
    assert!(line.contains("/nonexistent/m.wasm"), "{line}");
}

#[test]
fn an_unknown_export_is_refused_before_spawning() {
    let line = error_line(&["run", "--invoke", "nothere"]);
    assert!(line.contains("`nothere`"), "{line}");
}

#[test]
fn an_invalid_setting_is_one_error_line_and_status_2() {
    let line = error_line(&["run", "--workers", "0"]);
    assert!(line.contains("workers"), "{line}");
}

/// A file of this test's own in the temp directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `text` to a [`TempFile`] named after `name`.
fn temp_module(name: &str, text: &str) -> TempFile {
    let path = std::env::temp_dir().join(format!("shoal-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    TempFile(path)
}

#[test]
fn an_invalid_module_is_one_error_line_with_its_location() {
    let path = temp_module("bad.wat", "(module\n  (func (export \"main\") oops))\n");
    let line = error_line(&["run", path.path()]);
    assert!(line.contains("bad.wat:2:"), "{line}");
}

#[test]
fn a_wrong_entry_signature_is_refused_before_spawning() {
    let path = temp_module("sig.wat", "(module (func (export \"main\") (param i32)))");
    let line = error_line(&["run", path.path()]);
    assert!(line.contains("`main`"), "{line}");
}

#[test]
fn start_is_the_entry_when_there_is_no_main_and_traps_are_results() {
    let path = temp_module(
        "start.wat",
        "(module (func (export \"_start\") unreachable))",
    );
    let v = json(&[path.path(), "--procs", "2"]);
    assert_eq!(v["export"], "_start");
    assert_eq!(v["exits"]["trap"], 2);
    assert_eq!(v["processes"][0]["trap_code"], "unreachable_code_reached");
}

/// `shoal bench --json ARGS`, checked to succeed, as JSON.
fn bench(args: &[&str]) -> Value {
    json_of("bench", args)
}

/// Every workload with tiny sizes: each prints its keys and the common ones.
#[test]
fn every_bench_workload_prints_its_json_keys_and_the_machine() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "fair",
                "--procs",
                "4",
                "--secs",
                "0.2",
                "--warmup-secs",
                "0.1",
            ],
            &[
                "jain_fuel",
                "jain_wall",
                "min_share",
                "max_share",
                "slow_spinners",
                "slowest_speed",
            ],
        ),
        (
            &["wake", "--procs", "2", "--secs", "0.05"],
            &["p50_us", "p99_us", "max_us"],
        ),
        (
            &["spawn", "--procs", "300"],
            &[
                "spawns_per_s",
                "raw_spawns_per_s",
                "raw_spawns_per_s_parallel",
                "guest_spawns_per_s",
                "guest_spawn_scaling",
                "raw_spawn_scaling",
            ],
        ),
        (
            &["idle", "--procs", "50"],
            &[
                "rss_bytes_per_proc",
                "procs_alive",
                "rss_after_collect_bytes",
                "rss_anon_after_collect_bytes",
            ],
        ),
        (&["ring", "--procs", "10", "--rounds", "5"], &["msgs_per_s"]),
        (&["pingpong", "--rounds", "100"], &["roundtrip_ns"]),
        (
            &["order", "--procs", "2", "--rounds", "10"],
            &["msgs_per_s", "out_of_order", "missing", "retried"],
        ),
        (
            &["chaos", "--procs", "40", "--secs", "0.3"],
            &[
                "blows",
                "restarts",
                "unfinished",
                "leaked_processes",
                "leaked_budget_bytes",
                "rss_after_over_baseline",
            ],
        ),
        (
            &["skynet", "--depth", "2"],
            &["elapsed_s", "sum", "raw_instantiate_s"],
        ),
        (&["yield"], &["ns_per_yield", "raw_ns_per_yield"]),
        (
            &["overhead"],
            &[
                "ratio_vs_raw_fuel",
                "ratio_vs_raw_epoch",
                "ratio_vs_uninstrumented",
            ],
        ),
    ];
    for (args, keys) in cases {
        let v = bench(args);
        assert_eq!(v["workload"], args[0]);
        for key in ["workers", "procs", "preempt", "version"] {
            assert!(!v[key].is_null(), "{}: {key} missing", args[0]);
        }
        assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
        assert!(v["machine"]["cpu_model"].is_string());
        for key in *keys {
            assert!(
                v[key].is_number(),
                "{}: {key} missing or not a number: {v}",
                args[0]
            );
        }
    }
}

#[test]
fn bench_chaos_leaves_nothing_behind_after_its_tree_is_torn_down() {
    let v = bench(&["chaos", "--procs", "100", "--secs", "0.5"]);
    assert!(v["restarts"].as_u64().unwrap() > 0, "{v}");
    for key in [
        "host_errors",
        "unfinished",
        "leaked_processes",
        "leaked_budget_bytes",
        "leaked_names",
        "stray_relations",
        "leaked_relations",
        "leaked_timers",
        "leaked_slots",
        "processes_after_stop",
    ] {
        assert_eq!(v[key], 0, "{key}: {v}");
    }
}

#[test]
fn bench_results_are_right_where_they_can_be_checked() {
    let fair = bench(&[
        "fair",
        "--procs",
        "3",
        "--secs",
        "0.3",
        "--warmup-secs",
        "0.1",
    ]);
    let jain = fair["jain_fuel"].as_f64().unwrap();
    assert!(jain > 1.0 / 3.0 && jain <= 1.0, "{fair}");
    assert!(fair["min_share"].as_f64().unwrap() <= 1.0);
    assert!(fair["max_share"].as_f64().unwrap() >= 1.0);
    // The slowest of the three is at most the median's speed, and at most all are slow.
    assert!(fair["slowest_speed"].as_f64().unwrap() <= 1.0, "{fair}");
    assert!(fair["slow_spinners"].as_u64().unwrap() <= 3, "{fair}");
    let skynet = bench(&["skynet", "--depth", "3"]);
    assert_eq!(skynet["sum"], 499_500, "0 + 1 + ... + 999");
    assert_eq!(skynet["leaves"], 1_000);
    let idle = bench(&["idle", "--procs", "40"]);
    assert_eq!(idle["procs_alive"], 40);
    let wake = bench(&["wake", "--procs", "1", "--secs", "0.03"]);
    assert_eq!(wake["samples"], 30, "one sample per millisecond asked for");
    assert!(wake["p50_us"].as_u64().unwrap() <= wake["max_us"].as_u64().unwrap());
}

#[test]
fn bench_fair_reports_each_weight_and_group_against_its_ideal() {
    let window = ["--secs", "0.4", "--warmup-secs", "0.1", "--preempt", "fuel"];
    let weighted = bench(&[&["fair", "--procs", "8", "--weights", "1,3"][..], &window].concat());
    for key in ["weight_1_share", "weight_3_share"] {
        let share = weighted[key].as_f64().unwrap();
        assert!((share - 1.0).abs() < 0.2, "{key} {share}: {weighted}");
    }
    let grouped = bench(&[&["fair", "--groups", "12,2"][..], &window].concat());
    assert_eq!(grouped["procs"], 14);
    let small = grouped["group_1_share"].as_f64().unwrap();
    // Without groups the two would get 2/14 of the CPU: 0.29 of an equal share.
    assert!((small - 1.0).abs() < 0.2, "{grouped}");
    let busy = grouped["worker_utilisation"].as_f64().unwrap();
    assert!(
        busy > 0.5 && busy < 1.5,
        "time on workers over window: {busy}"
    );
}

#[test]
fn bench_fair_deterministic_gives_the_same_schedule_hash_ten_times() {
    let hashes: Vec<Value> = (0..10)
        .map(|_| bench(&["fair", "--deterministic", "--procs", "16"])["schedule_hash"].clone())
        .collect();
    assert!(hashes[0].is_string(), "{hashes:?}");
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    // And the shares are exact: every spinner spent the same budget.
    let v = bench(&["fair", "--deterministic", "--procs", "16"]);
    assert_eq!(v["jain_fuel"], 1.0);
    assert_eq!(v["workers"], 1);
}

#[test]
fn bench_trace_is_chrome_trace_json_and_plot_is_svg() {
    let dir = std::env::temp_dir();
    let trace = dir.join(format!("shoal-cli-trace-{}.json", std::process::id()));
    let plot = dir.join(format!("shoal-cli-plot-{}.svg", std::process::id()));
    let (t, p) = (trace.to_str().unwrap(), plot.to_str().unwrap());
    bench(&[
        "fair",
        "--procs",
        "4",
        "--secs",
        "0.1",
        "--warmup-secs",
        "0.1",
        "--trace",
        t,
        "--plot",
        p,
    ]);
    let v: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    assert!(events.iter().any(|e| e["args"]["name"] == "worker 0"));
    let slices = events.iter().filter(|e| e["ph"] == "X").count();
    assert!(slices > 0, "one slice per quantum");
    assert!(events.iter().any(|e| e["cat"] == "spawn"));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"));
    std::fs::remove_file(trace).ok();
    std::fs::remove_file(plot).ok();
}

#[test]
fn bench_refuses_options_that_do_not_apply_with_one_line() {
    let line = error_line(&["bench", "spawn", "--deterministic"]);
    assert!(line.contains("fair workload only"), "{line}");
    let line = error_line(&["bench", "ring", "--plot", "x.svg"]);
    assert!(line.contains("--plot"), "{line}");
    let line = error_line(&["bench", "fair", "--secs", "0"]);
    assert!(line.contains("--secs"), "{line}");
}

/// A WASI command: writes its argument buffer, its environment buffer and the contents
/// of `data.txt` in its first preopened directory (fd 3) to stdout, "err" to stderr, then
/// `proc_exit(7)`.
const WASI_ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 900) "data.txt")
  (data (i32.const 920) "err")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $args_sizes (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $write (i32.const 1) (i32.const 4096) (i32.load (i32.const 20)))
    (drop (call $env_sizes (i32.const 16) (i32.const 20)))
    (drop (call $env_get (i32.const 1024) (i32.const 8192)))
    (call $write (i32.const 1) (i32.const 8192) (i32.load (i32.const 20)))
    (if (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 900) (i32.const 8)
                   (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 24)))
      (then
        (i32.store (i32.const 0) (i32.const 12288))
        (i32.store (i32.const 4) (i32.const 4096))
        (drop (call $fd_read (i32.load (i32.const 24)) (i32.const 0) (i32.const 1) (i32.const 28)))
        (call $write (i32.const 1) (i32.const 12288) (i32.load (i32.const 28)))))
    (call $write (i32.const 2) (i32.const 920) (i32.const 3))
    (call $proc_exit (i32.const 7))))"#;

#[test]
fn wasi_arguments_environment_directories_and_per_process_output_files() {
    let module = temp_module("echo.wat", WASI_ECHO);
    let base = std::env::temp_dir().join(format!("shoal-cli-{}-wasi", std::process::id()));
    let (data, out) = (base.join("data"), base.join("out"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("data.txt"), "from the host").unwrap();
    let v = json(&[
        module.path(),
        "--procs",
        "3",
        "--dir",
        &format!("{}::/data", data.display()),
        "--env",
        "K=V",
        "--stdout-dir",
        out.to_str().unwrap(),
        "--",
        "a",
        "b c",
    ]);
    assert_eq!(v["exits"]["normal"], 3);
    assert_eq!(v["processes"][2]["code"], 7);
    let argv0 = module.0.file_name().unwrap().to_str().unwrap().to_owned();
    for i in 0..3 {
        let stdout = std::fs::read(out.join(format!("{i}.stdout"))).unwrap();
        let expected = format!("{argv0}\0a\0b c\0K=V\0from the host");
        assert_eq!(String::from_utf8_lossy(&stdout), expected, "process {i}");
        assert_eq!(
            std::fs::read(out.join(format!("{i}.stderr"))).unwrap(),
            b"err"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn wasi_options_for_a_module_without_wasi_are_refused() {
    let path = temp_module("plain.wat", "(module (func (export \"main\")))");
    let line = error_line(&["run", path.path(), "--env", "K=V"]);
    assert!(line.contains("wasi_snapshot_preview1"), "{line}");
}

#[test]
fn bench_wasi_runs_copies_of_a_command_beside_its_bare_wasmtime_baseline() {
    let module = temp_module(
        "copy.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 1024))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 0))))"#,
    );
    let v = bench(&["wasi", "--module", module.path(), "--procs", "4"]);
    for key in [
        "copies_per_s",
        "raw_copies_per_s",
        "raw_same_code_copies_per_s",
        "ratio_vs_raw",
        "ratio_vs_raw_same_code",
        "cpu_per_copy_s",
        "raw_cpu_per_copy_s",
        "cpu_ratio_vs_raw",
        "cpu_ratio_vs_raw_same_code",
        "jain_running",
    ] {
        assert!(v[key].is_number(), "{key}: {v}");
    }
    assert_eq!(v["failed"], 0);
    assert_eq!(v["procs"], 4);
    let line = error_line(&["bench", "wasi"]);
    assert!(line.contains("--module"), "{line}");
    let line = error_line(&["bench", "spawn", "--module", module.path()]);
    assert!(line.contains("wasi workload only"), "{line}");
}

#[test]
fn a_preview_2_command_component_runs_and_is_benched_beside_bare_wasmtime() {
    // A component that reads nothing and returns `ok` from its `wasi:cli/run`.
    let component = temp_module(
        "command.wat",
        r#"(component
  (core module $m (func (export "run") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))"#,
    );
    let run = shoal(&["run", component.path(), "--procs", "3", "--json"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["exits"]["normal"], 3, "{v}");
    let v = bench(&["wasi", "--module", component.path(), "--procs", "4"]);
    assert_eq!(v["failed"], 0, "{v}");
    assert!(v["raw_copies_per_s"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn an_actor_component_without_main_or_start_runs_its_run_by_default() {
    // The `shoal:actor` world's entry, `run(arg) -> s32`: it returns 3.
    let component = temp_module(
        "actor.wat",
        r#"(component
  (core module $m (func (export "run") (param i64) (result i32) (i32.const 3)))
  (core instance $i (instantiate $m))
  (func (export "run") (param "arg" u64) (result s32) (canon lift (core func $i "run"))))"#,
    );
    let v = json(&[component.path(), "--procs", "2"]);
    assert_eq!(v["export"], "run", "{v}");
    assert_eq!(v["exits"]["normal"], 2, "{v}");
    assert_eq!(v["processes"][0]["code"], 3, "{v}");
}

#[test]
fn a_memory_and_table_above_the_defaults_run_without_flags_and_a_lower_flag_is_named() {
    // 298 pages and 10,433 elements: GCC's `cc1`, above 16 MiB and 10,000.
    let path = temp_module(
        "large.wat",
        r#"(module (memory 298) (table 10433 funcref)
             (func (export "main") (result i32) (i32.add (memory.size) (table.size))))"#,
    );
    let v = json(&[path.path(), "--procs", "2"]);
    assert_eq!(v["exits"]["normal"], 2);
    assert_eq!(v["processes"][0]["code"], 298 + 10_433);
    assert!(v["max_memory"].as_u64().unwrap() >= 298 << 16);
    assert_eq!(v["max_table_elements"], 10_433);

    let line = error_line(&["run", path.path(), "--max-memory", "16MiB"]);
    assert!(line.contains("--max-memory"), "{line}");
    let line = error_line(&["run", path.path(), "--max-table-elements", "10000"]);
    assert!(line.contains("--max-table-elements"), "{line}");
}

#[test]
fn a_declared_maximum_sizes_the_memory_and_units_are_read() {
    let path = temp_module(
        "bounded.wat",
        r#"(module (memory 1 512) (func (export "main")))"#,
    );
    let v = json(&[path.path()]);
    assert_eq!(v["max_memory"], 512 << 16, "the declared 32 MiB");
    let v = json(&[path.path(), "--max-memory", "64MiB"]);
    assert_eq!(v["max_memory"], 64 << 20);
    let builtin = json(&["--procs", "1", "--invoke", "yielder", "--arg", "1"]);
    assert_eq!(builtin["max_memory"], 16 << 20);
}

#[test]
fn the_capacity_is_sized_to_the_procs_with_room_for_a_child_each() {
    let v = json(&["--procs", "6000", "--invoke", "yielder", "--arg", "0"]);
    assert_eq!(v["exits"]["normal"], 6000);
    assert_eq!(v["capacity"], 12_000);
    let v = json(&["--procs", "2", "--invoke", "yielder", "--arg", "0"]);
    assert_eq!(v["capacity"], 10_000, "at least the runtime's default");
    assert_eq!(v["memories"], "dense", "10,000 guarded memories do not fit");
}

#[test]
fn a_module_that_cannot_spawn_gets_its_procs_as_capacity_and_guarded_memories() {
    let path = temp_module(
        "loner.wat",
        r#"(module (memory 1) (func (export "main") (result i32) (i32.load (i32.const 0))))"#,
    );
    let v = json(&[path.path(), "--procs", "3"]);
    assert_eq!(v["capacity"], 3);
    assert_eq!(v["memories"], "guarded");
    assert_eq!(v["exits"]["normal"], 3);
    let v = json(&[path.path(), "--procs", "3", "--memories", "dense"]);
    assert_eq!(v["memories"], "dense");
    assert_eq!(v["exits"]["normal"], 3);
    let spawner = temp_module(
        "spawner.wat",
        r#"(module (import "shoal" "spawn" (func (param i32 i32 i64) (result i64)))
                   (func (export "main")))"#,
    );
    let v = json(&[spawner.path(), "--procs", "3"]);
    assert_eq!(v["capacity"], 10_000, "room for its children");
    let out = shoal(&["run", path.path(), "--memories", "sparse"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--memories") && stderr.contains("`guarded` or `dense`"),
        "{stderr}"
    );
}

#[test]
fn a_host_that_will_not_reserve_guarded_memories_gets_dense_ones() {
    let path = temp_module(
        "limited.wat",
        r#"(module (memory 1) (func (export "main") (result i32) (i32.load (i32.const 0))))"#,
    );
    // 8 GiB of address space: less than two guarded reservations, ample for the rest.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v 8388608 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_shoal"))
        .args(["run", "--json", "--no-cache", "--max-memory", "16MiB"])
        .args([path.path(), "--procs", "3"])
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["memories"], "dense");
    assert_eq!(v["exits"]["normal"], 3);
}

#[test]
fn compiled_code_is_cached_by_default_and_no_cache_writes_none() {
    let home = std::env::temp_dir().join(format!("shoal-cli-xdg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let path = temp_module("cached.wat", r#"(module (func (export "main")))"#);
    let entries = || {
        std::fs::read_dir(home.join("shoal"))
            .map(|dir| dir.count())
            .unwrap_or(0)
    };
    let out = shoal_caching_in(&home, &["run", path.path(), "--no-cache"]);
    assert!(out.status.success());
    assert_eq!(entries(), 0, "--no-cache writes nothing");
    for _ in 0..2 {
        let out = shoal_caching_in(&home, &["run", path.path()]);
        assert!(out.status.success());
        assert_eq!(entries(), 1, "one entry, written once and then read");
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn fairness_is_judged_among_the_processes_that_wanted_a_worker_the_whole_time() {
    let v = json(&["--procs", "3", "--invoke", "spin", "--arg", "1000"]);
    let contending = &v["fairness"]["contending"];
    assert_eq!(contending["processes"], 3);
    assert!(contending["running"]["jain"].is_f64());
    let v = json(&["--procs", "3", "--invoke", "yielder", "--arg", "5"]);
    let contending = &v["fairness"]["contending"];
    assert_eq!(contending["processes"], 0, "yielders yield");
    assert!(contending["running"].is_null());
    assert!(v["fairness"]["running"]["jain"].is_f64());
}

#[test]
fn fuel_is_metered_only_when_something_needs_it() {
    let run = |extra: &[&str]| {
        let mut args = vec!["--procs", "1", "--invoke", "spin", "--arg", "1000"];
        args.extend_from_slice(extra);
        json(&args)
    };
    let epoch = run(&[]);
    assert_eq!(epoch["preemption"], "adaptive");
    assert_eq!(epoch["fuel_metering"], false);
    assert_eq!(epoch["total_fuel"], 0);
    assert!(epoch["processes"][0]["running_s"].as_f64().unwrap() > 0.0);
    for needs in [
        &["--fuel-metering"][..],
        &["--fuel-limit", "100000000"],
        &["--preempt", "fuel"],
        &["--deterministic"],
    ] {
        let v = run(needs);
        assert_eq!(v["fuel_metering"], true, "{needs:?}");
        assert!(v["total_fuel"].as_u64().unwrap() > 0, "{needs:?}");
    }
}

#[test]
fn a_self_flood_under_kill_on_full_mailbox_ends_as_mailbox_overflow_not_at_its_deadline() {
    let path = temp_module(
        "flood.wat",
        r#"(module
             (import "shoal" "self" (func $self (result i64)))
             (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (func (export "main")
               (loop $again
                 (drop (call $send (call $self) (i64.const 0) (i32.const 0) (i32.const 4096)))
                 (br $again))))"#,
    );
    let v = json(&[
        path.path(),
        "--procs",
        "2",
        "--kill-on-full-mailbox",
        "--deadline-ms",
        "60000",
    ]);
    assert_eq!(v["exits"]["mailbox_overflow"], 2, "{v}");
    assert_eq!(v["processes"][0]["exit"], "mailbox_overflow", "{v}");
}

#[test]
fn the_memory_budget_is_a_flag_and_the_report_gives_its_peak() {
    let path = temp_module(
        "grow.wat",
        r#"(module (memory (export "memory") 1)
             (func (export "main") (result i32)
               (loop $again (br_if $again (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0))))
               (memory.size)))"#,
    );
    let v = json(&[path.path(), "--memory-budget", "1MiB"]);
    assert_eq!(v["memory_budget"], 1 << 20);
    let peak = v["memory_peak"].as_u64().unwrap();
    assert!(peak <= 1 << 20 && peak > 0, "{peak}");
    let pages = v["processes"][0]["code"].as_u64().unwrap();
    assert!(
        (1..16).contains(&pages),
        "memory.grow failed at the budget: {pages}"
    );
}

#[test]
fn eight_senders_under_back_pressure_lose_nothing_and_keep_their_order() {
    let v = bench(&["order", "--procs", "8", "--rounds", "20000"]);
    assert_eq!(v["messages"], 160_000);
    assert_eq!(v["out_of_order"], 0, "{v}");
    assert_eq!(v["missing"], 0, "{v}");
    assert!(
        v["retried"].as_u64().unwrap() > 0,
        "the receiver's small mailbox held the senders back: {v}"
    );
}

#[test]
fn run_plot_draws_the_shares_as_svg() {
    let path = std::env::temp_dir().join(format!("shoal-cli-{}-run.svg", std::process::id()));
    let out = shoal(&[
        "run",
        "--procs",
        "3",
        "--invoke",
        "spin",
        "--arg",
        "1000",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("CPU share of 3 processes"), "{svg}");
    assert!(svg.contains("measured (running time)"));
    let _ = std::fs::remove_file(&path);
}

/// `shoal fuzz --json ARGS`, checked to succeed (a failure exits 2, naming its seed).
fn fuzz(args: &[&str]) -> Value {
    json_of("fuzz", args)
}

#[test]
fn generated_guests_calling_the_whole_abi_cause_no_host_error_and_no_leak() {
    let v = fuzz(&["--cases", "200"]);
    assert_eq!(v["cases"], 200);
    assert!(
        v["ran"].as_u64().unwrap() >= 100,
        "most generated modules must run, or nothing is tested: {v}"
    );
    let ends = v["ends"].as_object().unwrap();
    assert!(!ends.contains_key("host_error"), "{v}");
    assert!(ends.len() >= 3, "a variety of ends: {v}");
}

#[test]
fn pure_compute_guests_end_alike_under_shoal_and_bare_wasmtime() {
    let v = fuzz(&["--mode", "differential", "--cases", "100"]);
    assert!(v["ran"].as_u64().unwrap() >= 50, "{v}");
    let ends = v["ends"].as_object().unwrap();
    assert!(
        ends.contains_key("out of fuel") && ends.contains_key("returned"),
        "{v}"
    );
}

#[test]
fn fuzz_runs_for_the_seconds_asked() {
    let v = fuzz(&["--secs", "0.5", "--seed", "1000000"]);
    assert!(v["cases"].as_u64().unwrap() > 0);
    assert!(v["elapsed_s"].as_f64().unwrap() >= 0.5);
}

#[test]
fn bench_cluster_runs_nodes_as_processes_loses_nothing_and_sees_killed_and_hung_nodes_go() {
    // Starts its own nats-server and two `shoal node` processes; SIGKILLs one, SIGSTOPs
    // the other.
    let v = bench(&["cluster", "--rounds", "20000"]);
    assert_eq!(v["messages"], 20_000);
    assert_eq!(v["received"], 20_000, "{v}");
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["reordered"], 0, "{v}");
    for key in [
        "roundtrip_us_p50",
        "raw_nats_roundtrip_us_p50",
        "msgs_per_s",
        "raw_nats_msgs_per_s",
        "node_down_detect_ms",
        "node_hang_detect_ms",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {v}");
    }
}

/// A `nats-server` on a free loopback port, and its URL, once it accepts connections.
fn nats_server() -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    nats_server_on(port)
}

/// [`nats_server`] on a given port (a restart of one).
fn nats_server_on(port: u16) -> (std::process::Child, String) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let server = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is not on PATH: `apt-get install nats-server` (.ci/run does)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (server, format!("nats://127.0.0.1:{port}"))
}

/// `shoal node` joined to cluster `cluster` on `url` as `name`, with `extra` options; its
/// stdout lines ("node ID NAME up") arrive on the channel.
fn shoal_node(
    url: &str,
    cluster: &str,
    name: &str,
    extra: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["node", "--nats", url, "--cluster", cluster, "--name", name])
        .args([
            "--workers",
            "1",
            "--heartbeat-ms",
            "50",
            "--down-after-ms",
            "300",
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

#[test]
fn a_spread_run_puts_its_processes_round_robin_on_every_accepting_node_and_reports_each_exit() {
    let (mut server, url) = nats_server();
    let wait = std::time::Duration::from_secs(60);
    let nodes: Vec<_> = ["b", "c"]
        .iter()
        .map(|name| shoal_node(&url, "spread", name, &["--accept-spawn"]))
        .collect();
    let ids: Vec<u64> = nodes
        .iter()
        .map(|(_, lines)| {
            let line = lines.recv_timeout(wait).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    // A node that does not accept spawns gets none.
    let refusing = shoal_node(&url, "spread", "d", &[]);
    refusing.1.recv_timeout(wait).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let v = json(&[
        "--spread",
        "--nats",
        &url,
        "--cluster",
        "spread",
        "--procs",
        "12",
    ]);
    let rows = v["processes"].as_array().unwrap();
    assert_eq!(rows.len(), 12, "{v}");
    assert_eq!(v["exits"]["normal"], 12, "{v}");
    let shares = v["nodes"].as_array().unwrap();
    assert_eq!(shares.len(), 3, "this node, b and c: {v}");
    for share in shares {
        assert_eq!(share["procs"], 4, "{v}");
    }
    let on = |id: u64| rows.iter().filter(|r| r["node"] == id).count();
    for id in &ids {
        assert_eq!(on(*id), 4, "{v}");
    }
    // The built-in mix's spinners ran where they were spawned, and said so.
    assert!(
        rows.iter().all(|r| r["quanta"].as_u64().unwrap() >= 1),
        "{v}"
    );
    for (mut child, _) in nodes.into_iter().chain([refusing]) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn during_a_server_outage_nodes_declare_each_other_down_and_after_it_the_cluster_forms_again() {
    use std::time::{Duration, Instant};
    let wait = Duration::from_secs(60);
    let (mut server, url) = nats_server();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (a_metrics, b_metrics) = (free_port(), free_port());
    let id = |line: String| line.split_whitespace().nth(1).unwrap().to_owned();
    let (mut a, a_lines) = shoal_node(
        &url,
        "outage",
        "a",
        &["--metrics", &format!("127.0.0.1:{a_metrics}")],
    );
    let (mut b, b_lines) = shoal_node(
        &url,
        "outage",
        "b",
        &["--metrics", &format!("127.0.0.1:{b_metrics}")],
    );
    let (a_first, b_first) = (
        id(a_lines.recv_timeout(wait).unwrap()),
        id(b_lines.recv_timeout(wait).unwrap()),
    );
    // Figures of the node on `port` that show `wanted`, scraped until they do.
    let scrape_until = |port: u16, wanted: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        loop {
            let (status, body) = http_get(port, "/metrics");
            if status == "HTTP/1.1 200 OK" && wanted(&body) {
                return body;
            }
            assert!(start.elapsed() < wait, "not yet, in:\n{body}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let up = |name: &'static str| {
        move |body: &str| {
            body.lines().any(|l| {
                l.starts_with("shoal_peer_up{") && l.contains(&format!("name=\"{name}\"}} 1"))
            })
        }
    };
    scrape_until(a_metrics, &up("b"));
    let _ = server.kill();
    let _ = server.wait();
    // With the server gone, a's liveness check still runs: b is declared down within the
    // 300 ms window, not when the server comes back.
    let down = format!("shoal_peer_up{{peer=\"{b_first}\",name=\"\"}} 0");
    scrape_until(a_metrics, &|body: &str| body.contains(&down));
    let (mut server, _) = nats_server_on(port);
    // Reconnected, a node that hears a peer it declared down cuts it off, and the one cut
    // off rejoins under a new id: at least one rejoins, and each sees the other up again.
    let a_body = scrape_until(a_metrics, &up("b"));
    let b_body = scrape_until(b_metrics, &up("a"));
    // Its new `up` line may trail its figures by a moment.
    let start = Instant::now();
    let rejoined = loop {
        let rejoined = [(&a_lines, &a_first), (&b_lines, &b_first)]
            .iter()
            .filter(|(lines, first)| lines.try_iter().map(id).any(|again| again != **first))
            .count();
        if rejoined > 0 || start.elapsed() > wait {
            break rejoined;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(rejoined >= 1, "{a_body}\n{b_body}");
    for child in [&mut a, &mut b, &mut server] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// One `GET` of `path` from `port` on loopback: the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn a_node_paused_past_the_liveness_window_is_cut_off_rejoins_under_a_new_id_and_the_metrics_show_both()
 {
    use std::process::Command;
    use std::time::{Duration, Instant};

    const WAIT: Duration = Duration::from_secs(60);
    let (mut server, url) = nats_server();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let node = |name: &str, extra: &[&str]| shoal_node(&url, "rejoin", name, extra);
    let id = |line: String| line.split_whitespace().nth(1).unwrap().to_owned();
    let (mut a, a_lines) = node("a", &["--metrics", &metrics_addr]);
    let (mut b, b_lines) = node("b", &[]);
    let a_id = id(a_lines.recv_timeout(WAIT).unwrap());
    let first = id(b_lines.recv_timeout(WAIT).unwrap());
    // a's figures name it, and show b up with a ping's round trip (pings go with every
    // 50 ms heartbeat).
    // Figures that hold every line of `wanted` and none of `unwanted`, scraped until so.
    let scrape_until_without = |wanted: &[String], unwanted: &[String]| {
        let start = Instant::now();
        loop {
            let (status, body) = http_get(metrics_port, "/metrics");
            // 503 while a node rejoins, between two ids.
            if status == "HTTP/1.1 200 OK"
                && wanted.iter().all(|w| body.contains(w.as_str()))
                && !unwanted.iter().any(|u| body.contains(u.as_str()))
            {
                return body;
            }
            assert!(
                start.elapsed() < WAIT,
                "{wanted:?} not in, or {unwanted:?} still in:\n{body}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let scrape_until = |wanted: &[String]| scrape_until_without(wanted, &[]);
    let body = scrape_until(&[
        format!("shoal_peer_up{{peer=\"{first}\",name=\"b\"}} 1"),
        format!("shoal_peer_round_trip_seconds{{peer=\"{first}\",name=\"b\"}} "),
    ]);
    assert!(
        body.contains(&format!(
            "shoal_node_info{{node=\"{a_id}\",name=\"a\",cluster=\"rejoin\"}} 1"
        )),
        "{body}"
    );
    assert!(body.contains("# TYPE shoal_processes_live gauge"), "{body}");
    assert_eq!(http_get(metrics_port, "/").0, "HTTP/1.1 404 Not Found");
    // Both up and acquainted, then b is paused for over three liveness windows.
    std::thread::sleep(Duration::from_millis(500));
    let signal = |sig: &str, child: &std::process::Child| {
        assert!(
            Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP", &b);
    std::thread::sleep(Duration::from_millis(1000));
    signal("-CONT", &b);
    let again = id(b_lines.recv_timeout(WAIT).expect("b rejoined"));
    assert_ne!(again, first, "b rejoined under a new id");
    // A node that rejoined in turn may hear b's old id for a moment before it leaves;
    // the old id does not stay up beside the new one.
    let body = scrape_until_without(
        &[format!("shoal_peer_up{{peer=\"{again}\",name=\"b\"}} 1")],
        &[format!("shoal_peer_up{{peer=\"{first}\",name=\"b\"}} 1")],
    );
    // On waking, b may find a silent as well and cut it off in turn; then a too rejoined,
    // with a fresh view. If the figures are still of a's first id, they list b's old id
    // as declared down.
    if body.contains(&format!("shoal_node_info{{node=\"{a_id}\"")) {
        assert!(
            body.contains(&format!("shoal_peer_up{{peer=\"{first}\",name=\"\"}} 0")),
            "{body}"
        );
    }
    for child in [&mut a, &mut b] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = server.kill();
    let _ = server.wait();
}
