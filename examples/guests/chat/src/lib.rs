//! A pub/sub chat room: a registered room process, and members that subscribe, publish
//! and receive.
//!
//! - `room()` registers as [`ROOM`] and keeps its members: a `Join` subscribes the sender
//!   and **monitors** it, so a member that ends (normally or not) is removed and its
//!   departure announced with its exit reason, from the room's `DOWN`. `Say` is published
//!   to every other member; `Members` is a request, answered through the requester's
//!   alias; `Close` announces the end and exits `normal(members left)`.
//! - `member(pack(index, members))` finds the room by name, joins, then asks the room for
//!   its members (a request with a timeout) until all `members` `member-*` processes have
//!   joined, so nobody misses a line. It says [`LINES`] lines, then reads until it has
//!   heard every other member's lines, and exits `normal(lines heard)`. The last member
//!   is clumsy: once it has heard everyone it panics instead, and those still in the
//!   room hear it leave with `trap(panic: ...)`.
//!
//! A member's mailbox holds both the room's broadcasts and the replies to its requests;
//! the replies are taken by their alias's tag (`receive_tag`), so a broadcast is never
//! mistaken for a reply nor lost while waiting for one.

#![forbid(unsafe_code)]

mod protocol;

use std::time::Duration;

use protocol::{FromRoom, LINES, ROOM, ToRoom};
use shoal_guest::{Mailbox, Pid, Received, Reference};

/// How long a member waits for the room to answer a request: the room does no work per
/// message beyond a few sends, so this only trips if the room is gone.
const ROOM_TIMEOUT: Duration = Duration::from_secs(2);

/// Between two looks at who has joined (and at whether the room exists yet).
const POLL: Duration = Duration::from_millis(1);

/// One subscriber, as the room keeps it.
struct Member {
    pid: Pid,
    name: String,
    /// The room's monitor of it: its `DOWN` says the member is gone.
    monitor: Reference,
}

/// Sends `event` to every member but `except`. A member that is gone is skipped: its
/// `DOWN` is on its way and removes it.
fn broadcast(members: &[Member], except: Option<Pid>, event: &FromRoom) {
    let bytes = shoal_guest::encode(event).expect("room events encode");
    for member in members.iter().filter(|m| Some(m.pid) != except) {
        let _ = shoal_guest::send_bytes(member.pid, shoal_guest::DEFAULT_TAG, &bytes);
    }
}

/// The room, found by name on `node` (0: this node): members may start before it has
/// registered. On another node of a cluster, the room's pid is the sender of its answer
/// to a `Members` request sent by name (`{room, node}`).
fn find_room(node: u16) -> Pid {
    let me = shoal_guest::self_pid();
    loop {
        if node == 0 || node == me.node() {
            if let Some(room) = shoal_guest::whereis(ROOM) {
                return room;
            }
        } else {
            let alias = shoal_guest::alias();
            let ask = ToRoom::Members(shoal_guest::ReplyTo { pid: me, alias });
            let reply = shoal_guest::send_name_on(node, ROOM, shoal_guest::DEFAULT_TAG, &ask)
                .ok()
                .and_then(|()| shoal_guest::receive_tag(alias.to_raw(), Some(POLL)));
            shoal_guest::unalias(alias);
            if let Some(room) = reply.and_then(|r| r.from) {
                return room;
            }
        }
        shoal_guest::sleep(POLL);
    }
}

shoal_guest::entry! {
    /// The room.
    fn room() -> i32 {
        shoal_guest::register(ROOM, shoal_guest::self_pid()).expect("register the room");
        let mailbox = Mailbox::<ToRoom>::new();
        let mut members: Vec<Member> = Vec::new();
        loop {
            match mailbox.receive() {
                Ok(Received::Data { from: Some(pid), msg: ToRoom::Join { name } }) => {
                    let monitor = shoal_guest::monitor(pid);
                    broadcast(&members, None, &FromRoom::Joined { name: name.clone() });
                    members.push(Member { pid, name, monitor });
                }
                Ok(Received::Data { from: Some(pid), msg: ToRoom::Say { text } }) => {
                    if let Some(member) = members.iter().find(|m| m.pid == pid) {
                        let said = FromRoom::Said { name: member.name.clone(), text };
                        broadcast(&members, Some(pid), &said);
                    }
                }
                Ok(Received::Data { msg: ToRoom::Members(reply_to), .. }) => {
                    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                    let _ = reply_to.send(&names);
                }
                Ok(Received::Data { msg: ToRoom::Close, .. }) => {
                    broadcast(&members, None, &FromRoom::Closed);
                    return members.len() as i32;
                }
                Ok(Received::Down { reference, reason, .. }) => {
                    if let Some(i) = members.iter().position(|m| m.monitor == reference) {
                        let gone = members.remove(i);
                        let left = FromRoom::Left { name: gone.name, reason: reason.to_string() };
                        broadcast(&members, None, &left);
                    }
                }
                // The host's sends have no sender to subscribe; anything else is noise.
                Ok(_) | Err(_) => {}
            }
        }
    }

    /// A member.
    fn member(arg: i64) -> i32 {
        let (index, count, room_node) = protocol::unpack(arg);
        let name = protocol::member_name(index);
        let room = find_room(room_node);
        shoal_guest::send(room, &ToRoom::Join { name: name.clone() }).expect("join the room");

        // Wait until every member is subscribed, so each hears every line.
        loop {
            let names: Vec<String> =
                shoal_guest::request_with(room, ROOM_TIMEOUT, ToRoom::Members)
                    .expect("the room answers");
            let joined = names.iter().filter(|n| n.starts_with("member-")).count();
            if joined >= count as usize {
                break;
            }
            shoal_guest::sleep(POLL);
        }

        for line in 1..=LINES {
            let text = format!("line {line} of {LINES} from {name}");
            shoal_guest::send(room, &ToRoom::Say { text }).expect("the room is there");
        }

        let mailbox = Mailbox::<FromRoom>::new();
        let expected = (u32::from(count) - 1) * LINES;
        let mut heard = 0;
        while heard < expected {
            match mailbox.receive() {
                Ok(Received::Data { msg: FromRoom::Said { .. }, .. }) => heard += 1,
                Ok(Received::Data { msg: FromRoom::Closed, .. }) => break,
                _ => {}
            }
        }
        // Everyone has passed the barrier (each speaks only after it, and we heard them
        // all), so a departure now cannot hold anyone up.
        if index + 1 == count {
            panic!("{name} tripped over the cable");
        }
        heard as i32
    }
}
