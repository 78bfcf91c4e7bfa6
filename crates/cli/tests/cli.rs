//! The `shoal` binary as a user runs it: exit statuses, the one-line errors, the JSON.
//! Workloads are the built-in module's per-kind exports with small sizes, so each run
//! takes milliseconds.

use std::process::{Command, Output};

use serde_json::Value;

fn shoal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .output()
        .expect("the shoal binary runs")
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(args);
    let out = shoal(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
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
    let v = json(&["--procs", "4", "--invoke", "yielder", "--arg", "10"]);
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

/// Writes `text` to a file of this test's own in the temp directory.
fn temp_module(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("shoal-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_invalid_module_is_one_error_line_with_its_location() {
    let path = temp_module("bad.wat", "(module\n  (func (export \"main\") oops))\n");
    let line = error_line(&["run", path.to_str().unwrap()]);
    assert!(line.contains("bad.wat:2:"), "{line}");
}

#[test]
fn a_wrong_entry_signature_is_refused_before_spawning() {
    let path = temp_module("sig.wat", "(module (func (export \"main\") (param i32)))");
    let line = error_line(&["run", path.to_str().unwrap()]);
    assert!(line.contains("`main`"), "{line}");
}

#[test]
fn start_is_the_entry_when_there_is_no_main_and_traps_are_results() {
    let path = temp_module(
        "start.wat",
        "(module (func (export \"_start\") unreachable))",
    );
    let v = json(&[path.to_str().unwrap(), "--procs", "2"]);
    assert_eq!(v["export"], "_start");
    assert_eq!(v["exits"]["trap"], 2);
    assert_eq!(v["processes"][0]["trap_code"], "unreachable_code_reached");
}
