//! The child list on the wire (module docs, "Asking for the children").

use shoal_proc::Pid;

use super::run::Child;
use super::spec::{ChildInfo, SupervisorError};

/// The child list on the wire (module docs).
pub(super) fn encode_children(children: &[Child]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + children.len() * 24);
    let count = u32::try_from(children.len()).expect("fewer than 2^32 children");
    out.extend_from_slice(&count.to_le_bytes());
    for child in children {
        let id = child.spec.id.as_bytes();
        out.push(u8::try_from(id.len()).expect("ids are checked at start"));
        out.extend_from_slice(id);
        let pid = child.pid.map_or(-1, |pid| pid.to_bits() as i64);
        out.extend_from_slice(&pid.to_le_bytes());
    }
    out
}

/// The inverse of [`encode_children`].
pub(super) fn decode_children(bytes: &[u8]) -> Result<Vec<ChildInfo>, SupervisorError> {
    let bad = || SupervisorError::BadReply { len: bytes.len() };
    let (count, mut rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
    let count = u32::from_le_bytes(*count);
    let mut children = Vec::new();
    for _ in 0..count {
        let (&len, after) = rest.split_first().ok_or_else(bad)?;
        let (id, after) = after.split_at_checked(usize::from(len)).ok_or_else(bad)?;
        let (pid, after) = after.split_first_chunk::<8>().ok_or_else(bad)?;
        let id = std::str::from_utf8(id).map_err(|_| bad())?.to_owned();
        let pid = i64::from_le_bytes(*pid);
        let pid = u64::try_from(pid).ok().and_then(Pid::from_bits);
        children.push(ChildInfo { id, pid });
        rest = after;
    }
    if rest.is_empty() {
        Ok(children)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_list_survives_the_wire_and_a_truncated_one_is_refused() {
        let bytes = {
            let mut out = 2u32.to_le_bytes().to_vec();
            out.push(1);
            out.push(b'a');
            out.extend_from_slice(&7i64.to_le_bytes());
            out.push(2);
            out.extend_from_slice(b"bc");
            out.extend_from_slice(&(-1i64).to_le_bytes());
            out
        };
        assert_eq!(
            decode_children(&bytes).unwrap(),
            vec![
                ChildInfo {
                    id: "a".into(),
                    pid: Some(Pid::new(7, 0))
                },
                ChildInfo {
                    id: "bc".into(),
                    pid: None
                },
            ]
        );
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_children(&bytes[..cut]),
                Err(SupervisorError::BadReply { len: cut }),
                "cut at {cut}"
            );
        }
    }
}
