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
}
