//! Polyglot: a component and core modules, one actor model. The counter is a component
//! of the `shoal:actor` world (wit/actor.wit), written with wit-bindgen
//! (examples/guests/counter); its clients are core modules written with the shoal-guest
//! SDK (examples/guests/adder). They find each other by name, exchange messages, and the
//! counter monitors its clients, as any two guests would.
//!
//! Run it with `cargo run --example polyglot` (8 clients adding 1 to 100 each), or choose:
//! `cargo run --example polyglot -- 1000 10`.
//!
//! The counter exits when every client has ended (it counts their `DOWN`s), with the
//! total as its exit code; every client exits 0 if each total it was sent had grown by at
//! least its own addition.

use std::error::Error;
use std::time::Instant;

use shoal::{ExitReason, Runtime};

/// Clients, unless the first argument says otherwise.
const CLIENTS: u32 = 8;
/// Each client adds 1 to this, one request at a time, unless the second argument says
/// otherwise.
const ADDS: u32 = 100;

fn main() -> Result<(), Box<dyn Error>> {
    let counter_wasm = shoal_examples::or_exit(shoal_examples::counter());
    let adder_wasm = shoal_examples::module_or_exit(shoal_examples::ADDER);
    let clients = shoal_examples::count_arg(1, CLIENTS)?;
    let adds = shoal_examples::count_arg(2, ADDS)?;

    let runtime = Runtime::builder().build()?;
    let counter = runtime.compile(counter_wasm)?;
    let adder = runtime.compile(adder_wasm)?;
    assert!(counter.is_component() && !adder.is_component());
    println!(
        "polyglot: a counter component serves {clients} core-module clients, each adding \
         1 to {adds}, on {} workers",
        runtime.workers()
    );

    let started = Instant::now();
    let server = runtime.spawn(&counter, "run", i64::from(clients))?;
    let handles = (0..clients)
        .map(|_| runtime.spawn(&adder, "client", i64::from(adds)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut failed = 0;
    for handle in &handles {
        let exit = handle.wait();
        if exit.reason != (ExitReason::Normal { code: 0 }) {
            eprintln!("client {} ended {}", handle.pid(), exit.reason);
            failed += 1;
        }
    }
    let exit = server.wait();
    let elapsed = started.elapsed();

    let expected = u64::from(clients) * u64::from(adds) * (u64::from(adds) + 1) / 2;
    let requests = u64::from(clients) * u64::from(adds);
    println!(
        "counter {} ended {} after {requests} requests in {:.1} ms ({:.0} round trips/s)",
        server.pid(),
        exit.reason,
        elapsed.as_secs_f64() * 1e3,
        requests as f64 / elapsed.as_secs_f64()
    );
    let total_ok = match exit.reason {
        ExitReason::Normal { code } => i64::from(code) == expected.min(i32::MAX as u64) as i64,
        _ => false,
    };
    if failed > 0 || !total_ok {
        return Err(
            format!("{failed} clients failed; the counter's total should be {expected}").into(),
        );
    }
    println!("total {expected}, as expected");
    Ok(())
}
