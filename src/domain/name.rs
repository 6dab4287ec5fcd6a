//! A person's name (họ và tên) as people really type it, and the identity key that decides
//! whether two spellings name the same person.
//!
//! Two forms of a name exist:
//!
//! - The **display form** ([`display`]) is what the clerk wrote, in Unicode NFC, with runs of
//!   white space folded to one space and every invisible or formatting character removed
//!   (zero-width space and joiners, the byte-order mark, soft hyphen, bidirectional marks). It is
//!   what is stored and shown. A name holding a bidirectional override (U+202D, U+202E), which
//!   would show its letters in another order than they are stored, is refused.
//! - The **identity key** ([`key`]) is what two spellings are compared by: wherever the program
//!   asks "is this the same person's name?" (the import's duplicate check, R21, search, and the
//!   tie-break of the Vietnamese sort) it compares keys, never display forms.
//!
//! # When two spellings are the same name
//!
//! Two spellings are the same name if and only if they differ only in:
//!
//! - Unicode form: precomposed (NFC), decomposed (NFD), or compatibility forms such as
//!   full-width letters (`Ｎguyễn`).
//! - Invisible characters: zero-width space, zero-width (non-)joiner, word joiner, byte-order
//!   mark, soft hyphen, variation selectors, bidirectional marks and embeddings.
//! - The placement of the tone mark within a syllable, old style or new style: `Hòa`/`Hoà`,
//!   `Thúy`/`Thuý`, `Khỏe`/`Khoẻ`, `Ủy`/`Uỷ`, `Hùynh`/`Huỳnh`. The key places every tone by the
//!   modern rule (on the vowel with a quality mark if there is one, `ơ` in `ươ`; else on the
//!   middle of three vowels; else on the second of two when a consonant follows or the pair is
//!   `oa`, `oe`, `uy`; else on the first).
//! - Letter case: `NGUYỄN THỊ HÒA`, `nguyễn thị hòa`.
//! - White space: leading, trailing, doubled, or a non-breaking space between words.
//! - Letters that only look alike: Cyrillic or Greek letters that are drawn like Latin ones
//!   (`а`, `о`, `е`, `р`, `с`, `у`, `х`, `Н`, `Т`, `Ο` …), the Icelandic eth `ð`/`Ð` and the
//!   African `Ɖ` for `đ`/`Đ`, the dotless `ı` for `i`.
//!
//! # When two spellings are different names
//!
//! Everything else is a difference, and the two records are two persons (or one person recorded
//! wrongly, which R21 reports for a clerk to correct). In particular:
//!
//! - Another letter: `Hòa`/`Hoa` (a tone missing is another tone: the level tone), `Hải`/`Hài`,
//!   `Lý`/`Lí`, `Dũng`/`Đũng`, `Hương`/`Huong` (a quality mark missing).
//! - Another tone: `Hòa`/`Hóa`, `Thủy`/`Thụy`.
//! - Another order or number of words: `Nguyễn Văn An`/`Văn Nguyễn An`, `Lê Thị Hồng`/`Lê Hồng`.
//! - Punctuation: a hyphen or a dot is a character of the name.
//!
//! Searching is looser on purpose: [`super::text::fold`] drops every diacritic, so a search
//! for `hoa` finds `Hòa`, `Hoà` and `Hoa`; identity is never decided by the search key.

use unicode_normalization::UnicodeNormalization;

use super::FieldError;

/// Returns true if and only if `c` is a character that is invisible by itself and changes
/// nothing a reader sees: Unicode's Default_Ignorable_Code_Point (zero-width space and joiners,
/// byte-order mark, soft hyphen, bidirectional marks and controls, variation selectors …).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Returns true if and only if `c` is a bidirectional override (LRO U+202D, RLO U+202E): text
/// after it is shown in a forced direction, so a name holding one reads otherwise than it is.
pub fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202D}' | '\u{202E}')
}

/// `s` without invisible characters, in NFC, with white space folded and trimmed. Does not
/// refuse anything; see [`display`] for the checked form.
pub fn clean(s: &str) -> String {
    let visible: String = s.chars().filter(|c| !is_invisible(*c)).collect();
    let composed: String = visible.nfc().collect();
    composed.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The display form of a name: as written, cleaned of invisible characters, in NFC, white
/// space folded.
///
/// # Errors
///
/// A [`FieldError`] on `field` when the name holds a bidirectional override.
pub fn display(field: &str, s: &str) -> Result<String, FieldError> {
    if let Some(c) = s.chars().find(|c| is_bidi_override(*c)) {
        return Err(FieldError::new(
            field,
            format!(
                "holds the bidirectional override U+{:04X}, which shows the letters in another \
                 order than they are stored; retype the name",
                u32::from(c)
            ),
        ));
    }
    Ok(clean(s))
}

/// The letter a look-alike stands for, or `c` itself. Applied before case folding, so that an
/// upper-case look-alike (Cyrillic `Н`, drawn as `H`) maps by its shape, not its lower case.
pub fn unconfuse(c: char) -> char {
    match c {
        // Đ and đ.
        'Ð' | 'Ɖ' => 'Đ',
        'ð' | 'ɖ' => 'đ',
        // Latin variants.
        'ı' => 'i',
        'ɑ' => 'a',
        'ɡ' => 'g',
        // Cyrillic, upper case.
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'У' => 'Y',
        'Х' => 'X',
        'І' => 'I',
        'Ј' => 'J',
        'Ѕ' => 'S',
        'Ԁ' => 'D',
        // Cyrillic, lower case.
        'а' => 'a',
        'е' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'һ' => 'h',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        // Greek, upper case.
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Greek, lower case.
        'α' => 'a',
        'ο' => 'o',
        'ι' => 'i',
        'ν' => 'v',
        'ρ' => 'p',
        'υ' => 'u',
        'κ' => 'k',
        other => other,
    }
}

/// The five tone marks besides the level tone (thanh ngang), as combining characters: huyền,
/// sắc, ngã, hỏi, nặng.
const TONES: [char; 5] = ['\u{0300}', '\u{0301}', '\u{0303}', '\u{0309}', '\u{0323}'];

/// The marks that make another vowel (circumflex, breve, horn): â ê ô ă ơ ư.
const QUALITY: [char; 3] = ['\u{0302}', '\u{0306}', '\u{031B}'];

/// The identity key of a name: two spellings name the same person if and only if their keys
/// are equal (see the module's documentation for what that covers). The key is NFC text in
/// lower case, every tone in its modern place; it is compared, never shown.
pub fn key(name: &str) -> String {
    plain_key(name).unwrap_or_else(|| general_key(name))
}

/// [`key`] by the definition: the name decomposed (NFKD), look-alikes mapped, lower-cased, each
/// word's tones moved, and composed again (NFC).
fn general_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut word: Vec<char> = Vec::with_capacity(16);
    let mut tones: Vec<char> = Vec::new();
    // Decomposed letters (NFKD), look-alikes mapped, lower case; tones set aside per word.
    // Lower-casing a decomposed letter yields decomposed letters again.
    for c in name.chars().filter(|c| !is_invisible(*c)).nfkd() {
        if is_invisible(c) {
            continue;
        }
        if c.is_whitespace() {
            end_word(&mut word, &mut tones, &mut out);
            continue;
        }
        if TONES.contains(&c) {
            tones.push(c);
        } else {
            word.extend(unconfuse(c).to_lowercase());
        }
    }
    end_word(&mut word, &mut tones, &mut out);
    out.nfc().collect()
}

/// The letters with diacritics of Vietnamese, lower case (their upper case is derived).
const VIETNAMESE: &str = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ";

/// A letter of [`VIETNAMESE`] taken apart as [`general_key`] sees it: its base letter in lower
/// case, its quality mark and its tone.
type Parts = (char, Option<char>, Option<char>);

/// The tables of [`plain_key`], derived from the normalization library once.
struct Letters {
    /// Each letter of [`VIETNAMESE`], in either case, taken apart.
    apart: foldhash::HashMap<char, Parts>,
    /// The lower-case letter of each set of parts.
    together: foldhash::HashMap<Parts, char>,
}

fn letters() -> &'static Letters {
    static LETTERS: std::sync::OnceLock<Letters> = std::sync::OnceLock::new();
    LETTERS.get_or_init(|| {
        let mut apart = foldhash::HashMap::default();
        let mut together = foldhash::HashMap::default();
        let all = VIETNAMESE
            .chars()
            .chain(VIETNAMESE.chars().flat_map(char::to_uppercase));
        for letter in all {
            let mut chars = std::iter::once(letter).nfkd();
            let Some(base) = chars.next() else { continue };
            let mut lower = unconfuse(base).to_lowercase();
            let (Some(base), None) = (lower.next(), lower.next()) else {
                continue;
            };
            let (mut quality, mut tone) = (None, None);
            let mut fits = true;
            for mark in chars {
                if QUALITY.contains(&mark) && quality.is_none() {
                    quality = Some(mark);
                } else if TONES.contains(&mark) && tone.is_none() {
                    tone = Some(mark);
                } else {
                    fits = false;
                }
            }
            if !fits {
                continue;
            }
            let parts = (base, quality, tone);
            apart.insert(letter, parts);
            let composed: String = [Some(base), quality, tone]
                .into_iter()
                .flatten()
                .nfc()
                .collect();
            let mut composed = composed.chars();
            if let (Some(c), None) = (composed.next(), composed.next()) {
                together.insert(parts, c);
            }
        }
        Letters { apart, together }
    })
}

/// [`general_key`] for a name written only with ASCII letters, ASCII spaces and the letters of
/// [`VIETNAMESE`] (nearly every name), by table instead of by the normalization library; `None`
/// for any other name, or when a syllable carries two tones.
fn plain_key(name: &str) -> Option<String> {
    let letters = letters();
    let mut out = String::with_capacity(name.len() + 8);
    let mut word: Vec<char> = Vec::with_capacity(16);
    let mut tones: Vec<char> = Vec::new();
    for c in name.chars() {
        if c == ' ' {
            end_word(&mut word, &mut tones, &mut out);
        } else if c.is_ascii_alphabetic() {
            word.push(c.to_ascii_lowercase());
        } else {
            let &(base, quality, tone) = letters.apart.get(&c)?;
            word.push(base);
            word.extend(quality);
            tones.extend(tone);
        }
    }
    end_word(&mut word, &mut tones, &mut out);
    // Compose each letter with its marks.
    let mut key = String::with_capacity(out.len());
    let mut chars = out.chars().peekable();
    while let Some(base) = chars.next() {
        let (mut quality, mut tone) = (None, None);
        while let Some(&mark) = chars.peek() {
            if QUALITY.contains(&mark) && quality.is_none() {
                quality = Some(mark);
            } else if TONES.contains(&mark) && tone.is_none() {
                tone = Some(mark);
            } else if QUALITY.contains(&mark) || TONES.contains(&mark) {
                return None;
            } else {
                break;
            }
            chars.next();
        }
        if quality.is_none() && tone.is_none() {
            key.push(base);
        } else {
            key.push(*letters.together.get(&(base, quality, tone))?);
        }
    }
    Some(key)
}

/// A cheap fingerprint of a name written only with ASCII letters, ASCII spaces and the letters
/// of Vietnamese (`None` for any other name): its ASCII consonants in order, in lower case,
/// hashed. When a name and its [`key`] both have a fingerprint, they have the same one, so a
/// name whose fingerprint differs from a key's fingerprint does not have that key: a filter
/// that spares computing keys.
pub fn fingerprint(name: &str) -> Option<u64> {
    let letters = letters();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for c in name.chars() {
        if c.is_ascii_alphabetic() {
            let c = c.to_ascii_lowercase();
            if !matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y') {
                hash = (hash ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3);
            }
        } else if c != ' ' && !letters.apart.contains_key(&c) {
            return None;
        }
    }
    Some(hash)
}

/// [`key`] with a memory, for a pass over many records in which one name recurs (the same
/// person in several lists): each distinct spelling is keyed once.
#[derive(Debug, Default)]
pub struct Keys<'a> {
    /// Spelling → key.
    seen: std::cell::RefCell<std::collections::HashMap<&'a str, std::rc::Rc<str>>>,
}

impl<'a> Keys<'a> {
    /// The identity key of `name` (see [`key`]).
    pub fn of(&self, name: &'a str) -> std::rc::Rc<str> {
        self.seen
            .borrow_mut()
            .entry(name)
            .or_insert_with(|| key(name).into())
            .clone()
    }
}

/// Appends one decomposed, lower-case word to `out` (after a space unless it is the first),
/// with its tones on the vowel the modern rule names, and empties `word` and `tones`.
fn end_word(word: &mut Vec<char>, tones: &mut Vec<char>, out: &mut String) {
    if word.is_empty() && tones.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    let at = if tones.is_empty() {
        word.len()
    } else {
        tone_position(word).map_or(word.len(), |i| {
            // After the vowel's own marks.
            let mut j = i + 1;
            while word
                .get(j)
                .is_some_and(|c| unicode_normalization::char::is_combining_mark(*c))
            {
                j += 1;
            }
            j
        })
    };
    out.extend(&word[..at]);
    out.extend(tones.iter());
    out.extend(&word[at..]);
    word.clear();
    tones.clear();
}

/// The index in `word` (decomposed, lower case, without tones) of the vowel that carries the
/// tone by the modern rule, if the word has a vowel.
fn tone_position(word: &[char]) -> Option<usize> {
    let is_mark = |c: char| unicode_normalization::char::is_combining_mark(c);
    // Base letters: (index in word, letter, has a quality mark).
    let mut letters: Vec<(usize, char, bool)> = Vec::with_capacity(word.len());
    for (i, &c) in word.iter().enumerate() {
        if is_mark(c) {
            if let Some(last) = letters.last_mut() {
                last.2 |= QUALITY.contains(&c);
            }
        } else {
            letters.push((i, c, false));
        }
    }
    let is_vowel = |i: usize| {
        letters
            .get(i)
            .is_some_and(|(_, c, _)| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y'))
    };
    let mut start = (0..letters.len()).find(|&i| is_vowel(i))?;
    let mut end = start;
    while is_vowel(end) {
        end += 1;
    }
    // "qu" and "gi" before another vowel: the u and the i belong to the initial consonant.
    if end - start > 1 && start > 0 {
        let initial = letters[start - 1].1;
        let (_, first, marked) = letters[start];
        if (initial == 'q' && first == 'u' || initial == 'g' && first == 'i') && !marked {
            start += 1;
        }
    }
    let cluster = &letters[start..end];
    if let Some(&(i, _, _)) = cluster.iter().rev().find(|l| l.2) {
        return Some(i);
    }
    let closed = end < letters.len();
    Some(match cluster {
        [only] => only.0,
        [a, b] => {
            if closed || matches!((a.1, b.1), ('o', 'a') | ('o', 'e') | ('u', 'y')) {
                b.0
            } else {
                a.0
            }
        }
        [_, middle, ..] => middle.0,
        [] => letters[start].0,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Spellings that must name the same person.
    const SAME: &[(&str, &str)] = &[
        ("Nguyễn Thị Hoà", "Nguyễn Thị Hòa"),
        ("Lê Thị Thuý", "Lê Thị Thúy"),
        ("Trần Văn Khoẻ", "Trần Văn Khỏe"),
        ("Phạm Uỷ", "Phạm Ủy"),
        ("Huỳnh Văn Thủy", "Hùynh Văn Thuỷ"),
        ("Đỗ Văn Thoả", "Đỗ Văn Thỏa"),
        ("Lý Thị Hoè", "Lý Thị Hòe"),
        ("Ngô Văn Quý", "Ngô Văn Qúy"),
        ("Hà Văn Giàu", "Hà Văn Giaù"),
        ("Nguyễn Văn Toàn", "Nguyễn Văn Tòan"),
        ("Bùi Thị Nguyệt", "Bùi Thị Nguỵêt"),
        ("Vũ Đức Thuận", "Vũ Đức Thụân"),
        ("Phạm Văn\u{200B} Hải", "Phạm Văn Hải"),
        ("Ngô\u{FEFF} Quốc Tuấn", "Ngô Quốc Tuấn"),
        ("\u{200E}Lê\u{200D} Văn\u{00AD} Tám\u{2060}", "Lê Văn Tám"),
        ("NGUYỄN THỊ HÒA", "nguyễn thị hoà"),
        ("  Nguyễn\u{00A0}Thị   Hòa ", "Nguyễn Thị Hòa"),
        ("Ｎguyễn Văn An", "Nguyễn Văn An"),
        // Cyrillic а, о, Н; eth for đ.
        ("Nguyễn Văn Hа", "Nguyễn Văn Ha"),
        ("Hоàng Văn Nam", "Hoàng Văn Nam"),
        ("Нồ Sỹ Tùng", "Hồ Sỹ Tùng"),
        ("Ðặng Văn Ðức", "Đặng Văn Đức"),
        ("ðỗ thị mai", "Đỗ Thị Mai"),
    ];

    /// Spellings that must name two persons.
    const DIFFERENT: &[(&str, &str)] = &[
        ("Nguyễn Thị Hòa", "Nguyễn Thị Hoa"),
        ("Nguyễn Thị Hòa", "Nguyễn Thị Hóa"),
        ("Nguyễn Thị Hòa", "Nguyễn Thị Họa"),
        ("Lê Thị Thủy", "Lê Thị Thụy"),
        ("Trần Văn Hải", "Trần Văn Hài"),
        ("Lý Văn Hùng", "Lí Văn Hùng"),
        ("Phạm Văn Dũng", "Phạm Văn Đũng"),
        ("Lê Thị Hương", "Lê Thị Huong"),
        ("Lê Thị Hương", "Lê Thị Hưởng"),
        ("Nguyễn Văn An", "Văn Nguyễn An"),
        ("Lê Thị Hồng", "Lê Hồng"),
        ("Võ Văn Ba", "Vo Van Ba"),
        ("Trần Thị Hoà", "Trần Thị Hoả"),
        ("Nguyễn Văn Tuấn", "Nguyễn Văn Tuân"),
    ];

    #[test]
    fn the_table_agrees_with_the_definition() {
        let mut names: Vec<String> = SAME
            .iter()
            .chain(DIFFERENT)
            .flat_map(|(a, b)| [a.to_string(), b.to_string()])
            .collect();
        names.extend(SYLLABLES.iter().map(|s| s.to_string()));
        names.extend(["Hòà", "gì", "Qúy", "  Lê  Văn ", "ĐỖ", "x", "", " "].map(String::from));
        for name in &names {
            if let Some(fast) = plain_key(name) {
                assert_eq!(fast, general_key(name), "{name:?}");
            }
        }
        for name in &names {
            if let (Some(f), Some(g)) = (fingerprint(name), fingerprint(&key(name))) {
                assert_eq!(f, g, "{name:?}");
            }
        }
        assert_ne!(fingerprint("Lê Văn Tám"), fingerprint("Lê Văn Nam"));
        assert_eq!(fingerprint("Lê Văn\u{200B} Tám"), None);
        assert!(plain_key("Nguyễn Thị Hoà").is_some());
        assert!(plain_key("Nguyễn Thị\u{200B} Hoà").is_none());
        assert_eq!(letters().apart.len(), 2 * VIETNAMESE.chars().count());
    }

    #[test]
    fn spellings_that_must_match() {
        for (a, b) in SAME {
            assert_eq!(key(a), key(b), "{a:?} and {b:?} must be one name");
        }
    }

    #[test]
    fn spellings_that_must_not_match() {
        for (a, b) in DIFFERENT {
            assert_ne!(key(a), key(b), "{a:?} and {b:?} must be two names");
        }
    }

    #[test]
    fn the_key_places_tones_by_the_modern_rule() {
        assert_eq!(key("Nguyễn Thị Hòa"), "nguyễn thị hoà");
        assert_eq!(key("THÚY"), "thuý");
        assert_eq!(key("khỏe"), "khoẻ");
        assert_eq!(key("Ủy"), "uỷ");
        assert_eq!(key("Qúy"), "quý");
        assert_eq!(key("giá"), "giá");
        assert_eq!(key("Hòang"), "hoàng");
        assert_eq!(key("Mùa"), "mùa");
        assert_eq!(key("Ngòai"), "ngoài");
        assert_eq!(key("Trường"), "trường");
        assert_eq!(key("Tùân"), "tuần");
        assert_eq!(key("gì"), "gì");
    }

    #[test]
    fn display_keeps_the_spelling_and_drops_invisibles() {
        assert_eq!(
            display("f", "  Nguyễn Thị\u{200B} Hoà ").unwrap(),
            "Nguyễn Thị Hoà"
        );
        let nfd: String = "Nguyễn Thị Hòa".nfd().collect();
        assert_eq!(display("f", &nfd).unwrap(), "Nguyễn Thị Hòa");
        assert_eq!(
            display("f", "Ngô\u{FEFF} Quốc Tuấn").unwrap(),
            "Ngô Quốc Tuấn"
        );
        let err = display("cadre.full_name", "Lê Văn \u{202E}mát").unwrap_err();
        assert_eq!(err.field, "cadre.full_name");
        assert!(err.problem.contains("U+202E"), "{err}");
    }

    /// Syllables of real names, each written with its tone in the modern place.
    const SYLLABLES: &[&str] = &[
        "nguyễn",
        "thị",
        "hoà",
        "thuý",
        "khoẻ",
        "uỷ",
        "hoàng",
        "ngoài",
        "trường",
        "quý",
        "giàu",
        "văn",
        "đức",
        "mai",
        "hương",
        "tuấn",
        "lý",
        "huỳnh",
        "thoả",
        "hoè",
        "bùi",
        "nguyệt",
        "an",
        "lê",
        "phạm",
        "quốc",
        "khuya",
        "hải",
        "tùng",
        "mùa",
    ];

    /// The same syllable with its tone moved to another vowel (the old placement, or any
    /// other), when it has a tone and more than one vowel.
    fn move_tone(syllable: &str, to: usize) -> String {
        let nfd: String = syllable.nfd().collect();
        let tone: String = nfd.chars().filter(|c| TONES.contains(c)).collect();
        let bare: String = nfd.chars().filter(|c| !TONES.contains(c)).collect();
        let vowels: Vec<usize> = bare
            .char_indices()
            .filter(|(_, c)| "aeiouy".contains(*c))
            .map(|(i, _)| i)
            .collect();
        if tone.is_empty() || vowels.is_empty() {
            return syllable.to_string();
        }
        let at = vowels[to % vowels.len()];
        let mut out = String::new();
        out.push_str(&bare[..=at]);
        // Keep the vowel's own quality marks right after it.
        let rest = &bare[at + 1..];
        let marks: String = rest.chars().take_while(|c| QUALITY.contains(c)).collect();
        out.push_str(&marks);
        out.push_str(&tone);
        out.push_str(&rest[marks.len()..]);
        out.nfc().collect()
    }

    fn name() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0..SYLLABLES.len(), 2..5)
    }

    proptest! {
        #[test]
        fn the_table_agrees_with_the_definition_on_any_plain_text(
            text in prop::collection::vec(
                prop::sample::select(
                    VIETNAMESE
                        .chars()
                        .chain(VIETNAMESE.to_uppercase().chars())
                        .chain("aeiouyAEIOUYbcdghklmnpqrstvxGIQ ".chars())
                        .collect::<Vec<char>>(),
                ),
                0..24,
            )
        ) {
            let text: String = text.into_iter().collect();
            if let Some(fast) = plain_key(&text) {
                prop_assert_eq!(fast, general_key(&text), "{:?}", text);
            }
            if let (Some(f), Some(g)) = (fingerprint(&text), fingerprint(&key(&text))) {
                prop_assert_eq!(f, g, "{:?}", text);
            }
        }

        #[test]
        fn rewritings_of_one_name_share_its_key(
            parts in name(),
            moves in prop::collection::vec(0usize..4, 5),
            invisible in prop::sample::select(vec!['\u{200B}', '\u{FEFF}', '\u{200C}', '\u{2060}', '\u{00AD}', '\u{200E}']),
            at in 0usize..40,
            upper in any::<bool>(),
            nfd in any::<bool>(),
        ) {
            let name: Vec<&str> = parts.iter().map(|&i| SYLLABLES[i]).collect();
            let original = name.join(" ");
            let mut rewritten: String = name
                .iter()
                .zip(moves.iter().cycle())
                .map(|(s, &m)| move_tone(s, m))
                .collect::<Vec<_>>()
                .join(" ");
            if upper {
                rewritten = rewritten.to_uppercase();
            }
            if nfd {
                rewritten = rewritten.nfd().collect();
            }
            let cut = rewritten
                .char_indices()
                .map(|(i, _)| i)
                .nth(at % rewritten.chars().count())
                .unwrap_or(0);
            rewritten.insert(cut, invisible);
            prop_assert_eq!(key(&original), key(&rewritten), "{} / {:?}", original, rewritten);
        }

        #[test]
        fn names_differing_in_a_letter_or_a_tone_do_not_share_a_key(
            parts in name(),
            word in 0usize..5,
            change_tone in any::<bool>(),
            pick in 0usize..6,
        ) {
            let name: Vec<&str> = parts.iter().map(|&i| SYLLABLES[i]).collect();
            let original = name.join(" ");
            let w = word % name.len();
            let syllable: String = name[w].nfd().collect();
            let changed: String = if change_tone {
                let bare: String = syllable.chars().filter(|c| !TONES.contains(c)).collect();
                let old: Option<char> = syllable.chars().find(|c| TONES.contains(c));
                let choices: Vec<char> = TONES.iter().copied().filter(|t| Some(*t) != old).collect();
                let tone = choices[pick % choices.len()];
                // Put the new tone right after the first vowel and its quality marks.
                let first = bare.char_indices().find(|(_, c)| "aeiouy".contains(*c)).map_or(0, |(i, _)| i);
                let rest = &bare[first + 1..];
                let marks: String = rest.chars().take_while(|c| QUALITY.contains(c)).collect();
                format!("{}{}{tone}{}", &bare[..=first], marks, &rest[marks.len()..])
            } else {
                // Replace the first letter by another base letter.
                let mut chars = syllable.chars();
                let first = chars.next().unwrap_or('a');
                let others = ['b', 'k', 'x', 'r', 's', 'v'];
                let replacement = others.iter().copied().cycle().skip(pick).find(|&c| c != first).unwrap_or('z');
                std::iter::once(replacement).chain(chars).collect()
            };
            let mut other = name.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            other[w] = changed;
            let other = other.join(" ");
            prop_assert_ne!(key(&original), key(&other), "{} / {}", original, other);
        }
    }
}
