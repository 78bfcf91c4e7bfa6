//! The chat room's messages, shared with the host program (examples/chat.rs includes
//! this file), so both sides encode the same types with postcard.

use serde::{Deserialize, Serialize};
use shoal_guest::ReplyTo;

/// The room's registered name.
pub const ROOM: &str = "room";

/// What members send the room.
#[derive(Serialize, Deserialize, Debug)]
pub enum ToRoom {
    /// Subscribe the sender under `name`; the room monitors it from then on.
    Join {
        /// The name others see.
        name: String,
    },
    /// Publish `text` to every other member.
    Say {
        /// The line.
        text: String,
    },
    /// A request: the names of the members, in the order they joined.
    Members(ReplyTo),
    /// Tell every member the room is closing, and end.
    Close,
}

/// What the room sends its members.
#[derive(Serialize, Deserialize, Debug)]
pub enum FromRoom {
    /// `name` joined.
    Joined {
        /// Who.
        name: String,
    },
    /// `name` said `text`.
    Said {
        /// Who.
        name: String,
        /// What.
        text: String,
    },
    /// `name` is gone: its process ended with `reason` (the room's monitor saw it).
    Left {
        /// Who.
        name: String,
        /// Why its process ended, as the host prints reasons.
        reason: String,
    },
    /// The room is closing.
    Closed,
}

/// The `member` entry's argument: its index, the number of members and the node of the
/// room (0: this member's own node) packed into one `i64`, 16 bits each.
#[allow(dead_code)] // The host programs' half.
pub fn pack(index: u16, members: u16, room_node: u16) -> i64 {
    (i64::from(room_node) << 32) | (i64::from(members) << 16) | i64::from(index)
}

/// The inverse of [`pack`]: `(index, members, room_node)`.
pub fn unpack(arg: i64) -> (u16, u16, u16) {
    (arg as u16, (arg >> 16) as u16, (arg >> 32) as u16)
}

/// Member `index`'s name.
pub fn member_name(index: u16) -> String {
    format!("member-{index}")
}

/// Lines each member says.
pub const LINES: u32 = 3;
