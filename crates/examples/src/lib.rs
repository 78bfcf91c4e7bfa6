//! The example guests, compiled to wasm by build.rs and embedded here, for the example
//! programs in examples/ (`ring`, `supervised_pool`, `chat`, `polyglot`).
//!
//! Each guest is a Rust crate in examples/guests/: the core modules are written with the
//! `shoal-guest` SDK; [`COUNTER`] is a component of the `shoal:actor` world
//! (wit/actor.wit), written with wit-bindgen.
//! Their message types live in each guest's `protocol.rs`, which the host programs
//! include with `#[path]`, so host and guest encode the same serde types with postcard.
//!
//! On a machine without the `wasm32-unknown-unknown` target (or, for [`COUNTER`], the
//! `wasm32-wasip2` target) the workspace still builds; [`module`] then says what to
//! install, and the examples print it and exit non-zero.

#![forbid(unsafe_code)]

/// The ring guest: `ring(pack(n, m))` and `node`.
pub const RING: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ring.wasm"));
/// The pool guest: `worker(index)` and `client(pack(jobs, workers))`.
pub const POOL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pool.wasm"));
/// The chat guest: `room()` and `member(pack(index, members))`.
pub const CHAT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chat.wasm"));

/// The adder guest, a core module: `client(n)`, a client of [`COUNTER`].
pub const ADDER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/adder.wasm"));
/// The counter guest, a component of the `shoal:actor` world: `run(clients)`.
pub const COUNTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/counter.wasm"));

/// Why build.rs could not build the core-module guests; empty when it did.
const BUILD_ERROR: &str = env!("SHOAL_GUESTS_ERROR");
/// Why build.rs could not build the component guests; empty when it did.
const COMPONENTS_ERROR: &str = env!("SHOAL_COMPONENTS_ERROR");

/// The guests were not built (see build.rs); the message says what to do.
#[derive(Debug)]
pub struct GuestsMissing(pub &'static str);

impl std::fmt::Display for GuestsMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for GuestsMissing {}

/// `bytes` (one of the core-module guests: [`RING`], [`POOL`], [`CHAT`], [`ADDER`]) if
/// they were built.
pub fn module(bytes: &'static [u8]) -> Result<&'static [u8], GuestsMissing> {
    built(bytes, BUILD_ERROR)
}

/// [`COUNTER`], if the component guests were built.
pub fn counter() -> Result<&'static [u8], GuestsMissing> {
    built(COUNTER, COMPONENTS_ERROR)
}

fn built(bytes: &'static [u8], error: &'static str) -> Result<&'static [u8], GuestsMissing> {
    if error.is_empty() && !bytes.is_empty() {
        Ok(bytes)
    } else {
        Err(GuestsMissing(error))
    }
}

/// The example programs' `main` prologue: the module, or the build's message on stderr
/// and exit status 1.
pub fn module_or_exit(bytes: &'static [u8]) -> &'static [u8] {
    or_exit(module(bytes))
}

/// A guest that was built, or the build's message on stderr and exit status 1.
pub fn or_exit(guest: Result<&'static [u8], GuestsMissing>) -> &'static [u8] {
    guest.unwrap_or_else(|missing| {
        eprintln!("error: {missing}");
        std::process::exit(1)
    })
}

/// The program's argument `index` as a positive count, or `default` when it is absent.
pub fn count_arg(index: usize, default: u32) -> Result<u32, String> {
    match std::env::args().nth(index) {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("argument {index} must be a positive count, got {s:?}")),
    }
}

/// The chat examples' member count: the program's first argument, or `default`.
pub fn member_count_arg(default: u16) -> Result<u16, String> {
    let members = count_arg(1, u32::from(default))?;
    u16::try_from(members).map_err(|_| format!("at most {} members, got {members}", u16::MAX))
}

#[cfg(test)]
mod tests {
    use shoal_guest::{ALIAS_BYTES, Reference, Request};

    #[test]
    fn a_guest_request_is_what_the_host_splits_as_a_request() {
        let alias = Reference::from_raw(shoal_guest::REFERENCE_BASE + 42).unwrap();
        let body = ("job", 7u32);
        let bytes = shoal_guest::encode(&Request { alias, body }).unwrap();
        let (split_alias, payload) = shoal::split_request(&bytes).expect("a request");
        assert_eq!(split_alias.to_bits(), alias.to_raw());
        assert_eq!(payload, &bytes[ALIAS_BYTES..]);
        assert_eq!(postcard::from_bytes::<(&str, u32)>(payload).unwrap(), body);
    }

    #[test]
    fn a_host_request_decodes_as_a_guest_request() {
        let alias = shoal_guest::REFERENCE_BASE + 9;
        let mut bytes = alias.to_le_bytes().to_vec();
        bytes.extend(postcard::to_allocvec(&"who?").unwrap());
        let request: Request<String> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(request.alias.to_raw(), alias);
        assert_eq!(request.body, "who?");
    }

    #[test]
    fn the_guests_are_built_or_the_build_says_why() {
        for bytes in [super::RING, super::POOL, super::CHAT] {
            match super::module(bytes) {
                Ok(wasm) => assert_eq!(&wasm[..4], b"\0asm"),
                Err(missing) => assert!(!missing.0.is_empty()),
            }
        }
    }
}
