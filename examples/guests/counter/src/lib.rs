//! A counter server as a component of the `shoal:actor` world, written with wit-bindgen:
//! the same actor model as the core-module guests, through WIT instead of the `shoal`
//! host module. examples/polyglot.rs runs it beside core-module clients (the `adder`
//! guest, written with the shoal-guest SDK).
//!
//! `run(clients)` registers the process as [`NAME`], then serves: an [`ADD`] message
//! (a `u64`, little-endian) adds to the total, and the new total goes back to its sender
//! as a [`TOTAL`] message. The first message from a client also monitors it; when
//! `clients` of them have ended (their `down`s), the counter exits with the total as its
//! code.

use shoal::actor::types::MessageKind;
use shoal::actor::{messages, monitors, names, process};

wit_bindgen::generate!({
    path: "../../../wit",
    world: "actor",
});

/// The name the counter registers, where the clients find it.
pub const NAME: &str = "counter";
/// A client's request: add the `u64` in the payload.
pub const ADD: u64 = 1;
/// The counter's answer: the new total, a `u64`.
pub const TOTAL: u64 = 2;

struct Counter;

impl Guest for Counter {
    fn run(clients: u64) -> i32 {
        names::register(NAME, process::self_()).expect("the counter's name is free");
        let mut total: u64 = 0;
        let mut seen: Vec<u64> = Vec::new();
        let mut ended = 0;
        while ended < clients {
            let Some(message) = messages::receive(None) else {
                continue;
            };
            match (message.kind, message.sender) {
                (MessageKind::Data, Some(client)) if message.tag == ADD => {
                    if !seen.contains(&client) {
                        seen.push(client);
                        monitors::monitor(client).expect("the memory budget has room");
                    }
                    let bytes: [u8; 8] = message.data.as_slice().try_into().unwrap_or([0; 8]);
                    total += u64::from_le_bytes(bytes);
                    // A client that has ended since cannot be answered; its `down` counts it.
                    let _ = messages::send(client, TOTAL, &total.to_le_bytes());
                }
                (MessageKind::Down, _) => ended += 1,
                _ => {}
            }
        }
        i32::try_from(total).unwrap_or(i32::MAX)
    }
}

export!(Counter);
