//! Real programs nobody on this team wrote, built from crates.io for `wasm32-wasip1` at
//! test time and run as WASI processes: BurntSushi's `szip` (Snappy compression). The
//! same program built for `wasm32-wasip2` is a preview 2 component, and runs too.
//!
//! The binaries are built once with `cargo install --target ...` into this build's
//! `target/tmp`, never committed. Without the target or the registry the tests
//! say so on stderr and pass without running: they test the programs, which then are not
//! there, not the runtime, which the WAT tests of `wasi` cover.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use shoal_scheduler::{
    ExitReason, Module, Output, Preemption, Runtime, SpawnOptions, Stdin, WasiConfig,
};

use crate::exit_of;

/// The program and the version the tests were written against.
const SZIP: (&str, &str) = ("szip", "1.0.0");

/// Where built programs are kept between runs.
fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasi-programs")
}

/// Builds szip for wasm32-wasip1 (once per test run, and not at all when already
/// installed); its path, or why it could not be built.
fn szip_wasm() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| install(SZIP, "wasm32-wasip1", programs_dir()))
        .clone()
}

/// Builds szip for wasm32-wasip2, a `wasi:cli/command` component, as [`szip_wasm`] does.
fn szip_component() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| install(SZIP, "wasm32-wasip2", programs_dir().join("wasip2")))
        .clone()
}

/// `cargo install`s `(name, version)` for `target` under `root`, unless there already.
fn install((name, version): (&str, &str), target: &str, root: PathBuf) -> Result<PathBuf, String> {
    let wasm = root.join("bin").join(format!("{name}.wasm"));
    if wasm.exists() {
        return Ok(wasm);
    }
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .exists()
    {
        return Err(format!(
            "the {target} target is not installed (rustup target add {target})"
        ));
    }
    let out = Command::new(env!("CARGO"))
        .args(["install", "--quiet", "--target", target, "--root"])
        .arg(&root)
        .arg(format!("{name}@{version}"))
        .env("CARGO_TARGET_DIR", root.join("build"))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| format!("cargo install: {e}"))?;
    if !out.status.success() || !wasm.exists() {
        return Err(format!(
            "cargo install {name}@{version} for {target} failed (is crates.io reachable?): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(wasm)
}

/// The runtime and compiled szip, or `None` (with the reason on stderr) to skip.
fn szip(workers: usize, fuel: bool) -> Option<(Runtime, Module)> {
    szip_built(szip_wasm(), workers, fuel)
}

/// [`szip`] from a build of it: the preview 1 module or the preview 2 component.
fn szip_built(
    built: Result<PathBuf, String>,
    workers: usize,
    fuel: bool,
) -> Option<(Runtime, Module)> {
    let wasm = match built {
        Ok(wasm) => wasm,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let rt = Runtime::builder()
        .workers(workers)
        .preemption(Preemption::Epoch {
            tick: Duration::from_millis(1),
            slice_ticks: 1,
        })
        .fuel_metering(fuel)
        .build()
        .unwrap();
    let m = rt.compile_file(&wasm).unwrap();
    Some((rt, m))
}

/// szip's config: `argv[0]` and its flags, stdin from `input`, stdout and stderr captured.
fn config(flags: &[&str], input: Vec<u8>) -> SpawnOptions {
    SpawnOptions::new().wasi(
        WasiConfig::new()
            .arg("szip.wasm")
            .args(flags.iter().copied())
            .stdin(Stdin::Bytes(input.into()))
            .stdout(Output::Capture)
            .stderr(Output::Capture),
    )
}

/// `len` bytes, a third of them random and the rest one letter, so that they compress.
fn input(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            if i % 3 == 0 { (x >> 56) as u8 } else { b'a' }
        })
        .collect()
}

#[test]
fn fifty_szip_processes_compress_and_fifty_decompress_back_to_their_inputs() {
    let Some((rt, m)) = szip(2, false) else {
        return;
    };
    let inputs: Vec<Vec<u8>> = (0..50)
        .map(|i| input(i, 1_000 + 7_919 * i as usize))
        .collect();
    let compress: Vec<_> = inputs
        .iter()
        .map(|data| {
            rt.spawn_with(&m, "_start", 0, config(&[], data.clone()))
                .unwrap()
        })
        .collect();
    let compressed: Vec<Vec<u8>> = compress
        .iter()
        .map(|h| {
            let exit = exit_of(h);
            assert_eq!(exit.reason, ExitReason::Normal { code: 0 });
            exit.output.unwrap().stdout.clone()
        })
        .collect();
    for (c, data) in compressed.iter().zip(&inputs) {
        assert!(
            c.len() < data.len(),
            "{} bytes compressed to {}",
            data.len(),
            c.len()
        );
    }
    let decompress: Vec<_> = compressed
        .iter()
        .map(|c| {
            rt.spawn_with(&m, "_start", 0, config(&["-d"], c.clone()))
                .unwrap()
        })
        .collect();
    for (h, data) in decompress.iter().zip(&inputs) {
        let exit = exit_of(h);
        assert_eq!(exit.reason, ExitReason::Normal { code: 0 });
        assert!(
            exit.output.as_ref().unwrap().stdout == *data,
            "round trip of {} bytes",
            data.len()
        );
    }
}

#[test]
fn a_long_compression_does_not_delay_a_hundred_short_ones() {
    let Some((rt, m)) = szip(1, false) else {
        return;
    };
    let big = input(99, 128 << 20);
    let long = rt
        .spawn_with(
            &m,
            "_start",
            0,
            SpawnOptions::new().wasi(
                WasiConfig::new()
                    .arg("szip.wasm")
                    .stdin(Stdin::Bytes(big.into())),
            ),
        )
        .unwrap();
    let short: Vec<_> = (0..100)
        .map(|i| {
            rt.spawn_with(&m, "_start", 0, config(&[], input(i, 100)))
                .unwrap()
        })
        .collect();
    for h in &short {
        assert_eq!(exit_of(h).reason, ExitReason::Normal { code: 0 });
    }
    assert!(
        long.try_exit().is_none(),
        "the long compression finished before the short ones: nothing was shown"
    );
    assert_eq!(exit_of(&long).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn szip_exit_codes_and_messages_come_back_as_they_are() {
    let Some((rt, m)) = szip(2, false) else {
        return;
    };
    // Not Snappy data: szip reports it and exits 1.
    let bad = rt
        .spawn_with(
            &m,
            "_start",
            0,
            config(&["-d"], b"definitely not snappy".to_vec()),
        )
        .unwrap();
    let exit = exit_of(&bad);
    assert_eq!(exit.reason, ExitReason::Normal { code: 1 });
    assert!(!exit.output.unwrap().stderr.is_empty(), "it says why");
    // An unknown flag: clap's usage error.
    let usage = rt
        .spawn_with(&m, "_start", 0, config(&["--no-such-flag"], vec![]))
        .unwrap();
    let exit = exit_of(&usage);
    assert!(
        matches!(exit.reason, ExitReason::Normal { code } if code != 0),
        "{}",
        exit.reason
    );
    let stderr = String::from_utf8_lossy(&exit.output.as_ref().unwrap().stderr).into_owned();
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[test]
fn a_fuel_limit_stops_a_long_compression_as_out_of_fuel() {
    let Some((rt, m)) = szip(1, true) else { return };
    let h = rt
        .spawn_with(
            &m,
            "_start",
            0,
            config(&[], input(5, 32 << 20)).fuel_limit(20_000_000),
        )
        .unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::OutOfFuel);
}

#[test]
fn szip_as_a_preview_2_component_compresses_as_its_preview_1_build_and_back() {
    let Some((rt, component)) = szip_built(szip_component(), 2, false) else {
        return;
    };
    let Some((_, module)) = szip(1, false) else {
        return;
    };
    assert!(component.is_component() && !module.is_component());
    let p1 = rt.compile(module.source()).unwrap();
    let inputs: Vec<Vec<u8>> = (0..20)
        .map(|i| input(i, 1_000 + 7_919 * i as usize))
        .collect();
    let run = |m: &Module, flags: &[&str], data: &[u8]| {
        rt.spawn_with(m, "_start", 0, config(flags, data.to_vec()))
            .unwrap()
    };
    let compress: Vec<_> = inputs
        .iter()
        .map(|data| (run(&component, &[], data), run(&p1, &[], data)))
        .collect();
    for ((c2, c1), data) in compress.iter().zip(&inputs) {
        let (e2, e1) = (exit_of(c2), exit_of(c1));
        assert_eq!(e2.reason, ExitReason::Normal { code: 0 });
        let compressed = &e2.output.as_ref().unwrap().stdout;
        assert!(
            *compressed == e1.output.unwrap().stdout,
            "the two builds agree"
        );
        let back = exit_of(&run(&component, &["-d"], compressed));
        assert_eq!(back.reason, ExitReason::Normal { code: 0 });
        assert!(back.output.unwrap().stdout == *data, "round trip");
    }
    // `exit(1)` through wasi:cli/exit, with its message on stderr.
    let bad = exit_of(&run(&component, &["-d"], b"definitely not snappy"));
    assert_eq!(bad.reason, ExitReason::Normal { code: 1 });
    assert!(!bad.output.unwrap().stderr.is_empty(), "it says why");
    assert_eq!(rt.stats().memory_used, 0);
}
