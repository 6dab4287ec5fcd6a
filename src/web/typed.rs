//! Typed query strings: a page's query is a serde struct whose closed lists are enums, read by
//! [`Typed`], which answers a value the page does not offer with a 400 naming the field (as
//! `status: unknown variant …`) on the page's error page, never by ignoring it.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer};

use super::WebError;

/// A query string read into `T`; a value that does not read is a 400 naming its field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed<T>(pub T);

impl<T, S> FromRequestParts<S> for Typed<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Typed(q)),
            Err(rejection) => Err(WebError::bad_request(
                rejection
                    .body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_string(),
            )),
        }
    }
}

/// Reads an optional value of a form's field where the empty choice ("all", "any") sends the
/// field empty: empty or blank is `None`, anything else must read as a `T`.
///
/// # Errors
///
/// The deserializer's error when the value is not a `T` (an unknown variant, not a number).
pub fn blank_is_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let raw: Option<String> = Option::deserialize(d)?;
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => T::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(v)).map(Some),
    }
}

/// Reads an optional whole number of a form's field: empty or blank is `None`.
///
/// # Errors
///
/// When the value is not a whole number in `T`'s range, with the parser's reason.
pub fn blank_or_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw: Option<String> = Option::deserialize(d)?;
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "{} is not a whole number ({e})",
                crate::domain::validate::prefix(v)
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanStatus;

    #[derive(Debug, Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "blank_is_none")]
        status: Option<PlanStatus>,
        #[serde(default, deserialize_with = "blank_or_number")]
        page: Option<usize>,
    }

    fn read(q: &str) -> Result<Q, String> {
        let uri: axum::http::Uri = format!("/x?{q}").parse().unwrap();
        Query::<Q>::try_from_uri(&uri)
            .map(|Query(q)| q)
            .map_err(|e| e.body_text())
    }

    #[test]
    fn empty_is_none_a_known_value_reads_and_an_unknown_one_names_its_field() {
        let q = read("status=&page=").unwrap();
        assert!(q.status.is_none() && q.page.is_none());
        let q = read("status=approved&page=3").unwrap();
        assert_eq!(q.status, Some(PlanStatus::Approved));
        assert_eq!(q.page, Some(3));
        assert!(read("").unwrap().status.is_none());
        let e = read("status=pending").unwrap_err();
        assert!(e.contains("status:") && e.contains("pending"), "{e}");
        let e = read("page=-1").unwrap_err();
        assert!(e.contains("page:"), "{e}");
    }
}
