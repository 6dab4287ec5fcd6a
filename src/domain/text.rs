//! Vietnamese text: names are stored in NFC, compared after NFC, searched without case or
//! diacritics (đ counts as d), and sorted the way Vietnamese lists are: by given name (tên), then
//! middle names (tên đệm), then family name (họ), with Vietnamese collation from CLDR.

use std::{cmp::Ordering, sync::LazyLock};

use icu_collator::{options::CollatorOptions, Collator, CollatorBorrowed};
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

use super::name;

/// Returns true if and only if `c` reorders text when displayed (Unicode bidirectional
/// controls: embeddings, overrides, isolates and marks).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Returns `s` in Unicode normal form C with runs of white space folded to one space and the
/// ends trimmed: the form every stored name takes.
pub fn nfc(s: &str) -> String {
    let composed: String = s.nfc().collect();
    composed.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Returns the search key of `s`: lower case, no diacritics, đ as d, white space folded, and,
/// as in a name's identity key ([`super::name::key`]), no invisible characters, compatibility
/// forms (full-width letters) folded and look-alike letters read as the letter they imitate.
/// "Nguyễn Văn Dũng", its NFD form, "Nguyễn\u{200B} Văn Dũng" and "nguyen van dung" share one
/// key.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| !name::is_invisible(*c)).nfkd() {
        if is_combining_mark(c) || name::is_invisible(c) {
            continue;
        }
        match name::unconfuse(c) {
            'đ' | 'Đ' => out.push('d'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Returns true if and only if every word of `query` appears, in order, within `name` once both
/// are folded; an empty query matches everything.
pub fn matches(name: &str, query: &str) -> bool {
    fold(name).contains(&fold(query))
}

static COLLATOR: LazyLock<CollatorBorrowed<'static>> = LazyLock::new(|| {
    let locale = icu_locale_core::locale!("vi");
    Collator::try_new(locale.into(), CollatorOptions::default())
        .expect("the Vietnamese collation ships with icu_collator's compiled data")
});

/// Compares two strings with Vietnamese collation.
pub fn collate(a: &str, b: &str) -> Ordering {
    COLLATOR.compare(a, b)
}

/// The parts of a Vietnamese full name: (given, middle, family).
fn name_parts(name: &str) -> (&str, &str, &str) {
    let name = name.trim();
    match (name.find(' '), name.rfind(' ')) {
        (Some(first), Some(last)) => {
            let middle = if first < last {
                name[first + 1..last].trim()
            } else {
                ""
            };
            (&name[last + 1..], middle, &name[..first])
        }
        _ => (name, "", ""),
    }
}

/// Compares two full names the way a Vietnamese list is ordered: given name, then middle
/// names, then family name, each with Vietnamese collation of the names' identity keys
/// ([`name::key`]), so that two spellings of one name (`Hoà`, `Hòa`) sort together; only then,
/// to make the order total, by the spellings themselves.
pub fn compare_names(a: &str, b: &str) -> Ordering {
    let (ka, kb) = (name::key(a), name::key(b));
    let (ga, ma, fa) = name_parts(&ka);
    let (gb, mb, fb) = name_parts(&kb);
    collate(ga, gb)
        .then_with(|| collate(ma, mb))
        .then_with(|| collate(fa, fb))
        .then_with(|| collate(&name::clean(a), &name::clean(b)))
}

/// The sort key of a full name: bytes that compare as [`compare_names`] orders the names
/// (given name, then middle names, then family name, each by Vietnamese collation), computed
/// once so that a sorted list compares bytes instead of collating at every comparison.
pub fn name_sort_key(name: &str) -> Vec<u8> {
    let name = nfc(name);
    let (given, middle, family) = name_parts(&name);
    let mut key = Vec::with_capacity(name.len() * 3);
    for part in [given, middle, family] {
        let Ok(()) = COLLATOR.write_sort_key_to(part, &mut key);
        // Collation keys hold no zero byte: a zero ends each part, so that a part which is a
        // prefix of another sorts first, as it does in `compare_names`.
        key.push(0);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_and_nfc_are_one_name() {
        let nfd: String = "Nguyễn Thị Ánh".nfd().collect();
        assert_ne!(nfd, "Nguyễn Thị Ánh");
        assert_eq!(nfc(&nfd), "Nguyễn Thị Ánh");
        assert_eq!(nfc("  Lê   Văn  Tám "), "Lê Văn Tám");
    }

    #[test]
    fn fold_ignores_case_diacritics_and_d_stroke() {
        assert_eq!(fold("Nguyễn Văn Dũng"), "nguyen van dung");
        assert_eq!(fold("ĐẶNG Thị Đào"), "dang thi dao");
        assert!(matches("Nguyễn Văn Dũng", "nguyen van dung"));
        assert!(matches("Đỗ Minh Đức", "duc"));
        assert!(!matches("Đỗ Minh Đức", "dung"));
        assert_eq!(fold("Phạm Văn\u{200B} Hải"), "pham van hai");
        assert_eq!(fold("Ngô\u{FEFF} Quốc Tuấn"), "ngo quoc tuan");
        assert_eq!(fold("Ðỗ Ｍinh Ηải"), "do minh hai");
    }

    #[test]
    fn two_spellings_of_one_name_sort_together() {
        let mut names = vec![
            "Nguyễn Thị Hòa",
            "Nguyễn Thị Hoá",
            "Nguyễn Thị Hoà",
            "Nguyễn Thị Hoa",
        ];
        names.sort_by(|a, b| compare_names(a, b));
        let hoa_grave: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| name::key(n) == name::key("Nguyễn Thị Hòa"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(hoa_grave.len(), 2);
        assert_eq!(hoa_grave[1], hoa_grave[0] + 1, "{names:?}");
    }

    #[test]
    fn sorts_by_given_then_middle_then_family() {
        let mut names = vec![
            "Trần Văn Bình",
            "Đỗ Thị An",
            "Nguyễn Thị Ánh",
            "Lê Văn Đạt",
            "Phạm Văn Dũng",
            "Hoàng Thị Ân",
            "Vũ Văn Ăn",
            "Nguyễn Văn An",
        ];
        names.sort_by(|a, b| compare_names(a, b));
        assert_eq!(
            names,
            [
                "Đỗ Thị An",
                "Nguyễn Văn An",
                "Nguyễn Thị Ánh",
                "Vũ Văn Ăn",
                "Hoàng Thị Ân",
                "Trần Văn Bình",
                "Phạm Văn Dũng",
                "Lê Văn Đạt",
            ]
        );
    }

    #[test]
    fn d_stroke_sorts_after_d_unlike_a_byte_sort() {
        // A byte sort puts "Đ" (U+0110) after every ASCII letter, even after "Y".
        let mut byte = vec!["Đức", "Dũng", "Yến"];
        byte.sort();
        assert_eq!(byte, ["Dũng", "Yến", "Đức"]);
        let mut vi = byte.clone();
        vi.sort_by(|a, b| collate(a, b));
        assert_eq!(vi, ["Dũng", "Đức", "Yến"]);
    }

    #[test]
    fn sort_keys_order_names_as_compare_names_does() {
        let mut names = vec![
            "Nguyễn Văn An",
            "Trần Thị Ánh",
            "Lê An",
            "Đỗ Minh Đức",
            "Nguyễn Văn Dũng",
            "Phạm Đức",
            "Nguyễn Ân",
            "Hoàng Văn Bình",
            "Lê Văn Ba",
        ];
        names.sort_by(|a, b| compare_names(a, b));
        let mut by_key = names.clone();
        by_key.sort_by_key(|n| name_sort_key(n));
        assert_eq!(by_key, names);
        assert!(name_sort_key("Lê An").iter().filter(|b| **b == 0).count() == 3);
    }
}
