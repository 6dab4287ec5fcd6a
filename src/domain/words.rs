//! Closed sets of words: enums whose values are written as one lower-case word in files,
//! certificates, the CLI and the API (a level, a role, a rule ID …). [`words!`] declares such an
//! enum once, with its words, and gives it `ALL`, `as_str`, `Display` and `FromStr`, so that the
//! word and the value can never drift apart and every refusal is worded the same way.

/// Declares an enum whose every value is one word:
///
/// ```text
/// words! {
///     /// The level of a unit.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Level ("level") {
///         /// Xã.
///         Commune = "commune",
///         /// Tỉnh.
///         Province = "province",
///     }
/// }
/// ```
///
/// Where every word is the value's own name (rule IDs: `R1` is "R1"), the values are listed
/// without words: `pub enum RuleId ("rule") { R1, R2 }`.
///
/// It adds `ALL` (every value in declared order), `as_str` (the word), `Display` (the word) and
/// `FromStr` (the word, trimmed, any ASCII case; otherwise the error of [`unknown`] naming the
/// set, the value given and the words expected).
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident ),+ $(,)?
        }
    ) => {
        $crate::domain::words::words! {
            $(#[$meta])*
            $vis enum $name ($what) {
                $( $(#[$vmeta])* $variant = stringify!($variant) ),+
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $word:expr ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: [Self; [$($word),+].len()] = [$(Self::$variant),+];

            /// The value's word, as files, certificates, the CLI and the API write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                Self::ALL
                    .into_iter()
                    .find(|w| w.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| $crate::domain::words::unknown($what, s, &[$($word),+]))
            }
        }
    };
}
pub(crate) use words;

/// The refusal of a word outside its set: `unknown level "huyen" (expected commune, district or
/// province)`. The value given is quoted and cut to a few characters; a long set is given by its
/// first and last words.
pub fn unknown(what: &str, given: &str, words: &[&str]) -> String {
    let expected = match words {
        [] => String::new(),
        [one] => (*one).to_string(),
        [first, .., last] if words.len() > 6 => format!("{first} … {last}"),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    format!(
        "unknown {what} {} (expected {expected})",
        super::validate::prefix(given)
    )
}

#[cfg(test)]
mod tests {
    words! {
        /// A set for the test.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Colour ("colour") {
            /// Red.
            Red = "red",
            /// Green.
            Green = "green",
            /// Blue.
            Blue = "blue",
        }
    }

    #[test]
    fn a_word_reads_back_as_its_value_in_any_case_and_nothing_else_does() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::Green, Colour::Blue]);
        for c in Colour::ALL {
            assert_eq!(c.to_string().parse::<Colour>(), Ok(c));
            assert_eq!(c.as_str().to_uppercase().parse::<Colour>(), Ok(c));
        }
        assert_eq!(" green ".parse::<Colour>(), Ok(Colour::Green));
        assert_eq!(
            "gren".parse::<Colour>(),
            Err(r#"unknown colour "gren" (expected red, green or blue)"#.to_string())
        );
        assert!("".parse::<Colour>().is_err());
    }

    #[test]
    fn a_long_set_is_named_by_its_ends() {
        let words = ["a", "b", "c", "d", "e", "f", "g"];
        assert_eq!(
            super::unknown("letter", "z", &words),
            r#"unknown letter "z" (expected a … g)"#
        );
        assert_eq!(
            super::unknown("letter", "z", &words[..2]),
            r#"unknown letter "z" (expected a or b)"#
        );
    }
}
