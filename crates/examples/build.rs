//! Builds the example guests (examples/guests/, a workspace of its own) and leaves them
//! in `OUT_DIR`, where src/lib.rs embeds them: the core modules `ring.wasm`, `pool.wasm`,
//! `chat.wasm` and `adder.wasm` for `wasm32-unknown-unknown`, and the component
//! `counter.wasm` (the `shoal:actor` world, with wit-bindgen) for `wasm32-wasip2`, whose
//! rustc links components itself.
//!
//! # A cargo inside a cargo
//! The guests are built by a second `cargo build --release --target wasm32-unknown-unknown`
//! with its own `--target-dir` under `OUT_DIR`: the outer build holds the lock on the
//! workspace's target directory, so sharing it would deadlock, and the guests' release
//! profile (theirs, in examples/guests/Cargo.toml) must not depend on the outer profile.
//! The outer build's flags are meant for the host: `CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`
//! and the like are removed so that, say, `-C target-cpu=native` or coverage
//! instrumentation never reach the wasm build. The jobserver (`CARGO_MAKEFLAGS`) is
//! inherited, so the inner build shares the outer one's job slots.
//!
//! # Without the target
//! A machine without a wasm32 target must still build the workspace: the build script
//! then prints a `cargo:warning` naming `rustup target add` and the target, leaves empty
//! modules, and hands the same message to the library (`SHOAL_GUESTS_ERROR` for the core
//! modules, `SHOAL_COMPONENTS_ERROR` for the component), whose examples print it at run
//! time and exit non-zero. Each target is on its own: without `wasm32-wasip2`, only the
//! example that runs the component says so. The script watches each target's library
//! directory, so the first build after `rustup target add` builds the guests with no
//! `cargo clean`. A guest that does not compile is a
//! bug in this repository and fails the build. `SHOAL_SKIP_GUESTS=1` takes the
//! without-the-target path on purpose (to check it, or to save the guests' build time
//! when only the host crates matter).

use std::path::{Path, PathBuf};
use std::process::Command;

/// (crate in examples/guests/, its artifact's file stem, the name src/lib.rs embeds).
type Guest = (&'static str, &'static str, &'static str);

/// One inner build: a target and the guests it makes.
struct Build {
    /// The target triple.
    target: &'static str,
    /// The guests.
    guests: &'static [Guest],
    /// Whether to name the guests with `-p` (package `shoal-guest-<crate>`) rather than
    /// build the workspace's default members, which are the core modules.
    by_name: bool,
    /// The variable that hands src/lib.rs the reason they were not built.
    error_env: &'static str,
}

/// The core modules, written with the shoal-guest SDK, and the component of the
/// `shoal:actor` world, written with wit-bindgen.
const BUILDS: [Build; 2] = [
    Build {
        target: "wasm32-unknown-unknown",
        guests: &[
            ("ring", "shoal_guest_ring", "ring.wasm"),
            ("pool", "shoal_guest_pool", "pool.wasm"),
            ("chat", "shoal_guest_chat", "chat.wasm"),
            ("adder", "shoal_guest_adder", "adder.wasm"),
        ],
        by_name: false,
        error_env: "SHOAL_GUESTS_ERROR",
    },
    Build {
        target: "wasm32-wasip2",
        guests: &[("counter", "shoal_guest_counter", "counter.wasm")],
        by_name: true,
        error_env: "SHOAL_COMPONENTS_ERROR",
    },
];

/// Environment variables of the outer build that must not reach the inner one.
const HOST_ONLY_ENV: [&str; 7] = [
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let root = manifest_dir.join("../..");
    let guests = root.join("examples/guests");

    for path in [
        guests.join("Cargo.toml"),
        guests.join("Cargo.lock"),
        root.join("crates/guest/Cargo.toml"),
        root.join("crates/guest/src"),
        // The SDK's one dependency of our own: the ABI's numbers and codec.
        root.join("crates/abi/Cargo.toml"),
        root.join("crates/abi/src"),
        // The `shoal:actor` world the component is generated from.
        root.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=SHOAL_SKIP_GUESTS");
    for build in &BUILDS {
        for (name, _, _) in build.guests {
            println!("cargo:rerun-if-changed={}", guests.join(name).display());
        }
        // Installing the target creates this directory: watching it makes the next build
        // after `rustup target add` build the guests. While it is missing, cargo re-runs
        // this script on every build, which costs one `rustc --print` until it appears.
        if let Some(libdir) = target_libdir(build.target) {
            println!("cargo:rerun-if-changed={}", libdir.display());
        }

        match build_guests(build, &guests, &out_dir) {
            Ok(()) => println!("cargo:rustc-env={}=", build.error_env),
            Err(Missing(message)) => {
                println!("cargo:warning={message}");
                println!("cargo:rustc-env={}={message}", build.error_env);
                for (_, _, file) in build.guests {
                    std::fs::write(out_dir.join(file), b"").expect("write a placeholder module");
                }
            }
        }
    }
}

/// Why the guests were not built, for a warning and for the examples to print.
struct Missing(String);

fn build_guests(build: &Build, guests: &Path, out_dir: &Path) -> Result<(), Missing> {
    let target = build.target;
    if std::env::var_os("SHOAL_SKIP_GUESTS").is_some() {
        return Err(Missing(
            "the example guests were not built (SHOAL_SKIP_GUESTS is set)".into(),
        ));
    }
    if !target_installed(target) {
        return Err(Missing(format!(
            "the example guests need the {target} target: run `rustup target add {target}` \
             and build again"
        )));
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out_dir.join("guests-target");
    let mut command = Command::new(cargo);
    command
        .current_dir(guests)
        .args(["build", "--release", "--target", target, "--target-dir"])
        .arg(&target_dir)
        // A build script's stdout is for `cargo:` lines: the inner cargo's goes to stderr.
        .stdout(std::process::Stdio::from(std::io::stderr()));
    if build.by_name {
        for (name, _, _) in build.guests {
            command.args(["-p", &format!("shoal-guest-{name}")]);
        }
    }
    for var in HOST_ONLY_ENV {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the example guests: {e}"));
    assert!(
        status.success(),
        "building the example guests in {} for {target} failed ({status}); see the errors above",
        guests.display()
    );

    for (_, stem, file) in build.guests {
        let built = target_dir
            .join(target)
            .join("release")
            .join(format!("{stem}.wasm"));
        std::fs::copy(&built, out_dir.join(file))
            .unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    }
    Ok(())
}

/// Whether the toolchain that builds us has `target`'s standard library.
fn target_installed(target: &str) -> bool {
    target_libdir(target).is_some_and(|libdir| libdir.is_dir())
}

/// Where the toolchain that builds us keeps (or would keep) `target`'s standard library.
fn target_libdir(target: &str) -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()?;
    let libdir = String::from_utf8_lossy(&output.stdout);
    (output.status.success() && !libdir.trim().is_empty()).then(|| PathBuf::from(libdir.trim()))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
