//! Domain names in wire form (length-prefixed labels, no root byte) and the lower-case keys the
//! index is looked up by.

/// The longest name on the wire, root byte included (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;

/// Encodes a dotted name (`backend-api.app.local`, a trailing dot allowed) as labels. `None`
/// when a label is empty or longer than 63 bytes, or the whole is too long. Bytes are taken as
/// they are: an instance id like `i/1:@` is one label (RFC 1035 allows any octet).
pub fn to_wire(dotted: &str) -> Option<Vec<u8>> {
    let dotted = dotted.strip_suffix('.').unwrap_or(dotted);
    let mut out = Vec::with_capacity(dotted.len() + 1);
    if dotted.is_empty() {
        return Some(out);
    }
    for label in dotted.split('.') {
        let bytes = label.as_bytes();
        if bytes.is_empty() || bytes.len() > 63 {
            return None;
        }
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    // +1 for the root byte.
    (out.len() < MAX_NAME).then_some(out)
}

/// The index key of a wire name: the same bytes, ASCII-lowercased (names compare
/// case-insensitively, RFC 4343). Length bytes are below 64 and unaffected.
pub fn key(wire: &[u8]) -> Box<[u8]> {
    wire.to_ascii_lowercase().into_boxed_slice()
}

/// Offsets of the label starts in a wire name.
pub fn label_starts(wire: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        starts.push(pos);
        pos += 1 + usize::from(wire[pos]);
    }
    starts
}

/// Every proper ancestor of `wire` (dropping one label at a time), shortest last, excluding
/// the empty name: the empty non-terminals a name implies.
pub fn ancestors(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    label_starts(wire)
        .into_iter()
        .skip(1)
        .map(move |start| &wire[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_become_labels() {
        assert_eq!(to_wire("a.bc").unwrap(), b"\x01a\x02bc");
        assert_eq!(to_wire("a.bc.").unwrap(), b"\x01a\x02bc");
        assert_eq!(to_wire("").unwrap(), b"");
        assert!(to_wire("a..b").is_none());
        assert!(to_wire(&"x".repeat(64)).is_none());
        assert!(
            to_wire(&vec!["y".repeat(63); 4].join(".")).is_none(),
            "256 bytes with the root"
        );
        assert_eq!(key(b"\x03WeB"), b"\x03web".to_vec().into_boxed_slice());
    }

    #[test]
    fn ancestors_drop_one_label_at_a_time() {
        let wire = to_wire("_x._tcp.svc").unwrap();
        let found: Vec<&[u8]> = ancestors(&wire).collect();
        assert_eq!(
            found,
            [b"\x04_tcp\x03svc".as_slice(), b"\x03svc".as_slice()]
        );
    }
}
