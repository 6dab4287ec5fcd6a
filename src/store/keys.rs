//! Key encoding. Every key is a sequence of parts separated by 0x00 (unit and term codes never
//! hold a NUL), with numbers big-endian so that keys sort in numeric order.

use crate::domain::PlanId;

/// Prefix of everything stored for (unit, term).
pub fn plan_prefix(unit: &str, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(unit.len() + term.len() + 2);
    k.extend_from_slice(unit.as_bytes());
    k.push(0);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k
}

/// Key of a plan version: unit, term, version.
pub fn plan(id: &PlanId) -> Vec<u8> {
    let mut k = plan_prefix(&id.unit, &id.term);
    k.extend_from_slice(&id.version.to_be_bytes());
    k
}

/// Prefix of the entries (or rounds) of one version.
pub fn items_prefix(id: &PlanId) -> Vec<u8> {
    let mut k = plan(id);
    k.push(0);
    k
}

/// Key of the `index`th entry (or round) of a version.
pub fn item(id: &PlanId, index: u32) -> Vec<u8> {
    let mut k = items_prefix(id);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Parses the version out of a plan key of the given prefix.
pub fn version_of(key: &[u8], prefix_len: usize) -> Option<u32> {
    let bytes: [u8; 4] = key.get(prefix_len..prefix_len + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Key of a decision in the log: the plan's unit, then the sequence number.
pub fn decision(unit: &str, seq: u64) -> Vec<u8> {
    let mut k = unit.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A key in readable form for error messages: `412/2025-2030/v1`, `412/2025-2030/v1 chunk 2`,
/// `#17` for a sequence number, `412 #3` for a decision, the text itself for named keys. Any
/// bytes give some answer, never a panic.
pub fn describe(tree: &str, key: &[u8]) -> String {
    let be = |b: &[u8]| -> Option<u64> {
        match b.len() {
            4 => Some(u32::from_be_bytes(b.try_into().ok()?) as u64),
            8 => Some(u64::from_be_bytes(b.try_into().ok()?)),
            _ => None,
        }
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace('\0', "/");
    match tree {
        "plans" | "receipts" | "bodies" => {
            let mut parts = key.splitn(3, |b| *b == 0);
            let (Some(unit), Some(term), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                return text(key);
            };
            let (version, chunk) = match rest.len() {
                4 => (be(rest), None),
                9 => (be(&rest[..4]), be(&rest[5..])),
                _ => (None, None),
            };
            let Some(version) = version else {
                return text(key);
            };
            let id = format!("{}/{}/v{version}", text(unit), text(term));
            match chunk {
                Some(c) => format!("{id} chunk {c}"),
                None => id,
            }
        }
        "decisions" => match key.iter().position(|b| *b == 0) {
            Some(i) => match be(&key[i + 1..]) {
                Some(seq) => format!("{} #{seq}", text(&key[..i])),
                None => text(key),
            },
            None => text(key),
        },
        "outbox" | "conflicts" | "audit" | "audit_seals" => match be(key) {
            Some(seq) if key.len() == 8 => format!("#{seq}"),
            _ => text(key),
        },
        _ => text(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let id = |v| PlanId {
            unit: "412".into(),
            term: "2025-2030".into(),
            version: v,
        };
        assert!(plan(&id(2)) < plan(&id(10)));
        assert!(item(&id(1), 2) < item(&id(1), 256));
        let p = plan_prefix("412", "2025-2030");
        assert_eq!(version_of(&plan(&id(258)), p.len()), Some(258));
    }

    #[test]
    fn a_unit_is_not_a_prefix_of_another() {
        assert!(!plan_prefix("4120", "t").starts_with(&plan_prefix("412", "t")));
    }

    #[test]
    fn keys_read_back_for_people() {
        let id = PlanId {
            unit: "412".into(),
            term: "2025-2030".into(),
            version: 3,
        };
        assert_eq!(describe("plans", &plan(&id)), "412/2025-2030/v3");
        assert_eq!(
            describe("bodies", &item(&id, 2)),
            "412/2025-2030/v3 chunk 2"
        );
        assert_eq!(describe("decisions", &decision("412", 9)), "412 #9");
        assert_eq!(describe("audit", &17u64.to_be_bytes()), "#17");
        assert_eq!(describe("meta", b"seq.audit"), "seq.audit");
        for junk in [&b""[..], b"\0", b"a\0b\0", b"a\0b\0\x01\x02"] {
            describe("plans", junk);
            describe("decisions", junk);
        }
    }
}
