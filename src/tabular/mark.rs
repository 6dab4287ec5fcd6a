//! The classification mark (độ mật) an export carries. Since 1 March 2026 documents on cadres
//! are state secrets (Law 117/2025/QH15, `shared/DOMAIN.md` "Since 2025"), and the law knows
//! three degrees: Tuyệt mật, Tối mật and Mật. A deployment names one (`serve --classification
//! "MẬT"`); every export then carries it where offices look for it: the top right of the sheet
//! (the flat layout gets a row above its header for it; the official layout has the empty row
//! under its title lines), and the first line of a CSV file.

use unicode_normalization::UnicodeNormalization;

/// A degree of secrecy as the mark shows it, in capitals ("MẬT").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification(String);

impl Classification {
    /// The degrees of Law 117/2025/QH15, most secret first, as the mark writes them.
    pub const DEGREES: [&'static str; 3] = ["TUYỆT MẬT", "TỐI MẬT", "MẬT"];

    /// Reads a degree, in any case and Unicode form ("Mật", "mật", "MẬT"), with the space in
    /// "Tối mật" and "Tuyệt mật" optional.
    ///
    /// # Errors
    ///
    /// The problem, in words naming the three degrees, for any other text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let upper: String = text.trim().nfc().collect::<String>().to_uppercase();
        let squeezed: String = upper.split_whitespace().collect::<Vec<_>>().join(" ");
        Self::DEGREES
            .iter()
            .find(|d| **d == squeezed || d.replace(' ', "") == squeezed.replace(' ', ""))
            .map(|d| Self((*d).to_string()))
            .ok_or_else(|| {
                format!(
                    "{} is not a degree of secrecy of Law 117/2025/QH15 (Tuyệt mật, Tối mật, \
                     Mật)",
                    crate::domain::validate::prefix(text)
                )
            })
    }

    /// The mark as written on an export.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_degrees_read_in_any_case_and_nothing_else_does() {
        for (given, mark) in [
            ("MẬT", "MẬT"),
            ("mật", "MẬT"),
            ("  Tối   mật ", "TỐI MẬT"),
            ("tuyệtmật", "TUYỆT MẬT"),
            // Decomposed (NFD) input, as some keyboards type it.
            ("Ma\u{0323}\u{0302}t", "MẬT"),
        ] {
            assert_eq!(
                Classification::parse(given).unwrap().as_str(),
                mark,
                "{given}"
            );
        }
        for bad in ["", "MAT", "Bí mật", "Confidential", "MẬT MẬT"] {
            let e = Classification::parse(bad).unwrap_err();
            assert!(e.contains("Law 117/2025"), "{bad}: {e}");
        }
    }
}
