//! Typed query strings: a page's query is a serde struct whose closed lists are enums, read by
//! [`Typed`], which answers a value the page does not offer with a 400 naming the field (as
//! `status: unknown variant …`) on the page's error page, never by ignoring it. Forms the same
//! way, with [`TypedForm`]: a field the form does not have is refused, not ignored.

use axum::{
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::request::Parts,
    Form,
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

/// A form body (`application/x-www-form-urlencoded`) read into `T`. A field sent once reads as
/// a string, a field sent several times (the checked boxes of one name) as a list: give such a
/// field [`one_or_many`]. A body that does not read into `T` (a missing or unknown field: make
/// `T` `deny_unknown_fields`) is a 400 naming the problem.
#[derive(Debug, Clone, Default)]
pub struct TypedForm<T>(pub T);

impl<T, S> FromRequest<S> for TypedForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|rejection| WebError::bad_request(rejection.body_text()))?;
        read_form(pairs).map(TypedForm)
    }
}

/// The pairs of a form body as a `T` (see [`TypedForm`]).
pub(super) fn read_form<T: DeserializeOwned>(pairs: Vec<(String, String)>) -> Result<T, WebError> {
    let mut fields = serde_json::Map::new();
    for (name, value) in pairs {
        match fields.remove(&name) {
            None => fields.insert(name, value.into()),
            Some(serde_json::Value::Array(mut values)) => {
                values.push(value.into());
                fields.insert(name, values.into())
            }
            Some(first) => fields.insert(name, vec![first, value.into()].into()),
        };
    }
    serde_json::from_value(fields.into()).map_err(|e| WebError::bad_request(format!("form: {e}")))
}

/// Reads a form field that may be sent once, several times or not at all (checkboxes of one
/// name) as a list.
///
/// # Errors
///
/// When a value is neither a string nor a list of strings.
pub fn one_or_many<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    })
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

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct F {
        csrf: String,
        #[serde(default, deserialize_with = "one_or_many")]
        cite: Vec<String>,
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_form_reads_repeated_boxes_as_a_list_and_refuses_what_it_does_not_have() {
        let f: F = read_form(pairs(&[("csrf", "t")])).unwrap();
        assert_eq!(f.csrf, "t");
        assert!(f.cite.is_empty());
        let f: F = read_form(pairs(&[("csrf", "t"), ("cite", "a1")])).unwrap();
        assert_eq!(f.cite, ["a1"]);
        let f: F = read_form(pairs(&[("cite", "a1"), ("csrf", "t"), ("cite", "b2")])).unwrap();
        assert_eq!(f.cite, ["a1", "b2"]);
        let e = read_form::<F>(pairs(&[("csrf", "t"), ("cite_a1", "on")])).unwrap_err();
        assert!(e.message.contains("cite_a1"), "{}", e.message);
        let e = read_form::<F>(pairs(&[("cite", "a1")])).unwrap_err();
        assert!(e.message.contains("csrf"), "{}", e.message);
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
