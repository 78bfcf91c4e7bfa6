//! Chat: a pub/sub room. A registered room process, and members that subscribe, publish
//! and receive; all Rust guests (examples/guests/chat, written with the `shoal-guest`
//! SDK) compiled to wasm by this package's build script.
//!
//! Run it with `cargo run --example chat` (4 members), or `cargo run --example chat -- 8`.
//!
//! The host takes part as a native process, the `host` member: it joins the room like
//! the guests do (the same postcard messages, from the guest's own protocol.rs), asks the
//! room who is there with a request whose reply comes back on an alias, and prints every
//! event it hears. The room monitors its members, so when one crashes (the last one
//! always does, after its lines) everyone hears it leave with its exit reason.

use std::error::Error;
use std::sync::mpsc;
use std::time::Duration;

use shoal::{MessageKind, NativeContext, ProcessHandle, Runtime, SpawnOptions};

// Shared with the guest, which uses the parts this program does not.
#[allow(dead_code)]
#[path = "guests/chat/src/protocol.rs"]
mod protocol;

use protocol::{FromRoom, ROOM, ToRoom};

/// Members, unless the first argument says otherwise.
const MEMBERS: u16 = 4;

/// How long the host waits for the room to register and answer: it does nothing else.
const ROOM_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn Error>> {
    let wasm = shoal_examples::module_or_exit(shoal_examples::CHAT);
    let members = shoal_examples::member_count_arg(MEMBERS)?;

    let runtime = Runtime::builder().build()?;
    let module = runtime.compile(wasm)?;
    let room = runtime.spawn(&module, "room", 0)?;
    println!("chat: room {} and {members} members", room.pid());

    // The host's own member: joins, tells main once it is in, then prints what it hears.
    let (joined_tx, joined_rx) = mpsc::channel::<Result<Vec<String>, String>>();
    let listener = runtime.spawn_native(SpawnOptions::default(), move |cx| async move {
        match join(&cx).await {
            Ok(names) => {
                let _ = joined_tx.send(Ok(names));
            }
            Err(e) => {
                let _ = joined_tx.send(Err(e));
                return 1;
            }
        }
        listen(&cx).await
    })?;
    let present = joined_rx.recv()?.map_err(|e| format!("host: {e}"))?;
    println!("host joined; in the room: {}", present.join(", "));

    let handles = (0..members)
        .map(|i| runtime.spawn(&module, "member", protocol::pack(i, members, 0)))
        .collect::<Result<Vec<ProcessHandle>, _>>()?;
    for (i, handle) in handles.iter().enumerate() {
        let exit = handle.wait();
        let heard = match exit.reason.code() {
            Some(lines) => format!("heard {lines} lines"),
            None => "did not finish".to_owned(),
        };
        println!(
            "{} {} exited {}: {heard}",
            protocol::member_name(i as u16),
            handle.pid(),
            exit.reason
        );
    }

    runtime.send_name(ROOM, 0, postcard::to_allocvec(&ToRoom::Close)?)?;
    let room_exit = room.wait();
    listener.wait();
    println!(
        "room exited {} (members still subscribed when it closed: the host)",
        room_exit.reason
    );
    Ok(())
}

/// Finds the room, joins as `host`, and asks who is there (the reply proves the join was
/// processed: the room handles its mailbox in order).
async fn join(cx: &NativeContext) -> Result<Vec<String>, String> {
    let mut waited = Duration::ZERO;
    let room = loop {
        if let Some(room) = cx.whereis(ROOM) {
            break room;
        }
        if waited > ROOM_TIMEOUT {
            return Err("the room never registered".into());
        }
        cx.sleep(Duration::from_millis(1)).await;
        waited += Duration::from_millis(1);
    };
    let join = ToRoom::Join {
        name: "host".into(),
    };
    send(cx, room, &join)?;

    let alias = cx.alias();
    let reply_to = shoal_guest::ReplyTo {
        pid: guest_pid(cx.pid()),
        alias: shoal_guest::Reference::from_raw(alias.to_bits()).expect("an alias is a reference"),
    };
    send(cx, room, &ToRoom::Members(reply_to))?;
    let reply = cx.receive(Some(alias.to_bits()), Some(ROOM_TIMEOUT)).await;
    cx.unalias(alias);
    let reply = reply.ok_or("the room did not answer")?;
    postcard::from_bytes(&reply.data).map_err(|e| format!("the member list does not decode: {e}"))
}

/// Prints the room's events until it closes.
async fn listen(cx: &NativeContext) -> i32 {
    loop {
        let Some(message) = cx.receive(None, None).await else {
            continue;
        };
        if message.kind != MessageKind::Data {
            continue;
        }
        match postcard::from_bytes::<FromRoom>(&message.data) {
            Ok(FromRoom::Joined { name }) => println!("  * {name} joined"),
            Ok(FromRoom::Said { name, text }) => println!("  <{name}> {text}"),
            Ok(FromRoom::Left { name, reason }) => println!("  * {name} left: {reason}"),
            Ok(FromRoom::Closed) => {
                println!("  * the room is closing");
                return 0;
            }
            Err(e) => println!("  ? a message that is not a room event: {e}"),
        }
    }
}

fn send(cx: &NativeContext, room: shoal::Pid, msg: &ToRoom) -> Result<(), String> {
    let bytes = postcard::to_allocvec(msg).map_err(|e| e.to_string())?;
    cx.send(room, 0, bytes)
        .map_err(|e| format!("send to the room: {e}"))
}

/// The SDK's view of a host pid: the same 64 bits.
fn guest_pid(pid: shoal::Pid) -> shoal_guest::Pid {
    shoal_guest::Pid::from_raw(pid.to_bits() as i64).expect("pids are never negative")
}
