//! Who is looking at the page. A person gets a session by opening the login URL that
//! `quyhoach web-login` prints (a token the node signed against their client certificate,
//! valid for minutes and accepted once) and confirming, on the page it shows, who they sign
//! in as: the GET only shows; the confirmation's POST, refused when it comes from another
//! site (`Origin`, `Sec-Fetch-Site`), opens the session, so that a hostile page cannot sign a
//! visitor in as someone else (login CSRF). A token whose certificate the node's revocation
//! list (`--crl`) names is refused. The session lives in an HttpOnly, SameSite=Strict
//! cookie and carries the certificate's unit and roles, so that every page is scoped exactly
//! like the gRPC API. Every form carries a CSRF token tied to the session, and a POST without
//! the right one is refused. On an `--insecure` node the page is open, like its gRPC API: every
//! visitor acts as [`Caller::Insecure`] (for trying things out on one's own machine only).

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRequestParts, Query, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;

use super::{i18n::Lang, WebError, WebState};
use crate::auth::Caller;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "qh_session";
/// The language cookie's name.
pub const LANG_COOKIE: &str = "qh_lang";
/// How long a session lasts: one working day.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// One signed-in person.
#[derive(Debug, Clone)]
struct Session {
    caller: Caller,
    /// The serial number (hex) of the certificate the login token was issued against.
    serial: String,
    expires: Instant,
}

/// The sessions of one node's web page, in memory: a restart signs everyone out.
pub struct Sessions {
    /// The node's web key: CSRF tokens are keyed hashes of the session ID under it.
    key: [u8; 32],
    insecure: bool,
    sessions: Mutex<HashMap<String, Session>>,
    /// The person behind each reference given out lately, so that opening a link does not
    /// search for the national ID behind it (at most [`MAX_PEOPLE`], then forgotten at once).
    people: Mutex<HashMap<String, String>>,
    /// The serial numbers (hex) of the certificates the node's revocation list names.
    revoked: HashSet<String>,
    /// How many national IDs each session looked up in the ID box, by the session's CSRF
    /// token (one per session): at most [`MAX_ID_LOOKUPS`] each.
    lookups: Mutex<HashMap<String, u32>>,
}

/// How many national IDs one session may look up in the ID box (`/nguoi?cccd=…`): enough for
/// a day's work, too few to walk the 89 guesses that recover a masked ID from its last four
/// digits, birth year and gender (issue 21).
pub const MAX_ID_LOOKUPS: u32 = 30;

/// How many person references [`Sessions`] remembers.
const MAX_PEOPLE: usize = 200_000;

impl Sessions {
    /// Sessions signed with the node's web `key`.
    pub fn new(key: [u8; 32], insecure: bool) -> Self {
        Self {
            key,
            insecure,
            sessions: Mutex::new(HashMap::new()),
            people: Mutex::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            revoked: HashSet::new(),
        }
    }

    /// The same, refusing logins and sessions of the certificates whose serial numbers (hex)
    /// are `revoked`.
    #[must_use]
    pub fn with_revoked(mut self, revoked: impl IntoIterator<Item = String>) -> Self {
        self.revoked = revoked.into_iter().collect();
        self
    }

    /// Returns true if and only if the revocation list names the certificate `serial` (hex).
    fn is_revoked(&self, serial: &str) -> bool {
        !serial.is_empty() && self.revoked.contains(serial)
    }

    /// The CSRF token of a session (of the open page, on an insecure node).
    pub fn csrf_for(&self, session: &str) -> String {
        let mac = blake3::keyed_hash(&self.key, format!("csrf\0{session}").as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.as_bytes()[..24])
    }

    /// Counts one ID-box lookup of the session whose CSRF token is `session`; returns false,
    /// counting nothing, once it has made [`MAX_ID_LOOKUPS`].
    pub fn count_lookup(&self, session: &str) -> bool {
        let mut lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if lookups.len() >= MAX_PEOPLE && !lookups.contains_key(session) {
            // Bounded memory: sessions come and go; a cleared count starts again, and a
            // session lasts hours, not the thousands of sessions this takes.
            lookups.clear();
        }
        let n = lookups.entry(session.to_string()).or_insert(0);
        if *n >= MAX_ID_LOOKUPS {
            return false;
        }
        *n += 1;
        true
    }

    /// An opaque, stable reference to a person for URLs: the national ID never appears in one.
    pub fn person_ref(&self, national_id: &str) -> String {
        let reference = self.reference_of(national_id);
        let mut people = self.people.lock().unwrap_or_else(|e| e.into_inner());
        if people.len() >= MAX_PEOPLE {
            people.clear();
        }
        people
            .entry(reference.clone())
            .or_insert_with(|| national_id.to_string());
        reference
    }

    /// [`Sessions::person_ref`] without remembering it.
    pub fn reference_of(&self, national_id: &str) -> String {
        let mac = blake3::keyed_hash(&self.key, format!("person\0{national_id}").as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.as_bytes()[..12])
    }

    /// The national ID behind a reference given out lately, if it is remembered.
    pub fn person_of(&self, reference: &str) -> Option<String> {
        self.people
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(reference)
            .cloned()
    }

    fn open(&self, caller: Caller, serial: String) -> String {
        let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                caller,
                serial,
                expires: now + SESSION_LIFETIME,
            },
        );
        id
    }

    fn get(&self, id: &str) -> Option<Caller> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .get(id)
            .filter(|s| s.expires > Instant::now() && !self.is_revoked(&s.serial))
            .map(|s| s.caller.clone())
    }

    fn close(&self, id: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(id);
    }
}

/// The person behind a request, with what the page needs to know about them.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// As the gRPC API would see them.
    pub caller: Caller,
    /// The token every form of the page carries.
    pub csrf: String,
    /// The page's language.
    pub lang: Lang,
    /// The root of everything they may read here.
    pub root: String,
}

impl Viewer {
    /// Returns true if and only if the viewer may see full national IDs: the roles that work
    /// with the lists (clerk, approver, administrator); a reader sees masked ones.
    pub fn sees_full_ids(&self) -> bool {
        self.caller.sees_full_ids()
    }

    /// Returns true if and only if the viewer may decide at `unit` (the node's own unit).
    pub fn approves_at(&self, unit: &str) -> bool {
        self.caller.require_approver_at(unit).is_ok()
    }

    /// How the page names the viewer.
    pub fn label(&self) -> String {
        self.caller.label()
    }
}

/// The value of cookie `name` in a request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_cookie(cookie(&parts.headers, LANG_COOKIE));
        let (caller, csrf) = if state.sessions.insecure {
            (Caller::Insecure, state.sessions.csrf_for("insecure"))
        } else {
            let session = cookie(&parts.headers, SESSION_COOKIE);
            match session.and_then(|s| state.sessions.get(s).map(|c| (c, s))) {
                Some((caller, id)) => (caller, state.sessions.csrf_for(id)),
                None => return Err(signed_out(lang)),
            }
        };
        let node = &state.node;
        let root = caller
            .default_root(node.hierarchy(), &node.unit().code)
            .map_err(|d| WebError::from(d).into_response())?;
        Ok(Viewer {
            caller,
            csrf,
            lang,
            root,
        })
    }
}

fn signed_out(lang: Lang) -> Response {
    let body = bare_page(
        lang,
        lang.t("Chưa đăng nhập", "Not signed in"),
        maud::html! {
            p id="signed-out" { (lang.t(
                "Trang này cần đăng nhập bằng chứng thư số. Chạy lệnh sau và mở địa chỉ nó in ra:",
                "This page needs a sign-in with your certificate. Run the following and open the address it prints:")) }
            pre { "quyhoach web-login --node ĐỊA_CHỈ_NÚT --web http://ĐỊA_CHỈ_TRANG --ca ca.pem --cert ban.pem --key ban.key" }
        },
    );
    (StatusCode::UNAUTHORIZED, body).into_response()
}

/// A page of the sign-in steps, shown before there is a viewer (so without the frame of
/// [`super::layout::page`]): `title` as the page's title and heading, then `content`.
fn bare_page(lang: Lang, title: &str, content: maud::Markup) -> maud::Markup {
    maud::html! {
        (maud::DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/static/style.css";
            }
            body { main {
                h1 { (title) }
                (content)
            } }
        }
    }
}

/// Checks a form's CSRF token against the viewer's session.
///
/// # Errors
///
/// FORBIDDEN when the token is missing or not this session's.
pub fn check_csrf(viewer: &Viewer, token: &str) -> Result<(), WebError> {
    let a = blake3::hash(viewer.csrf.as_bytes());
    let b = blake3::hash(token.as_bytes());
    // Compared as hashes, in constant time.
    if a == b && !token.is_empty() {
        Ok(())
    } else {
        Err(WebError::forbidden(viewer.lang.t(
            "Yêu cầu bị từ chối: thiếu hoặc sai mã chống giả mạo (CSRF). Tải lại trang rồi thử lại.",
            "Request refused: the anti-forgery (CSRF) token is missing or wrong. Reload the page and try again.",
        )))
    }
}

/// The query of the login URL, and the form of its confirmation.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    token: String,
}

/// Checks a login token without using it up: its signature, expiry and certificate.
async fn vouched(state: &WebState, token: &str) -> Result<crate::node::WebIdentity, WebError> {
    if token.is_empty() {
        return Err(WebError {
            status: StatusCode::UNAUTHORIZED,
            message: "token: missing; open the address `quyhoach web-login` prints".into(),
        });
    }
    let identity = state.node.verify_web_login(token).await.map_err(|e| {
        let mut e = WebError::from(e);
        e.status = StatusCode::UNAUTHORIZED;
        e
    })?;
    if state
        .node
        .web_login_used(&identity.nonce)
        .map_err(WebError::from)?
    {
        return Err(WebError {
            status: StatusCode::UNAUTHORIZED,
            message: "token: this login token was already used; ask for a new one with `quyhoach web-login`".into(),
        });
    }
    if state.sessions.is_revoked(&identity.serial) {
        tracing::warn!(serial = %identity.serial, unit = %identity.unit, "web login refused: certificate revoked");
        return Err(WebError {
            status: StatusCode::UNAUTHORIZED,
            message: format!(
                "token: the certificate it was issued against (serial {}) is revoked",
                identity.serial
            ),
        });
    }
    Ok(identity)
}

/// Refuses a request that a browser says comes from another site: `Sec-Fetch-Site` other
/// than `same-origin` or `none` or, from a browser that does not send it, an `Origin` that is
/// not this page's. A request with neither header comes from a program, not from a page a
/// person was lured to.
fn same_site(headers: &HeaderMap) -> Result<(), WebError> {
    let refused = |why: String| {
        WebError::forbidden(format!(
            "refused: {why}; a sign-in is confirmed on this page only"
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !matches!(site, "same-origin" | "none") {
            return Err(refused(format!(
                "the request comes from another site (Sec-Fetch-Site: {site:?})"
            )));
        }
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        if host.is_empty() || !authority.eq_ignore_ascii_case(host) {
            return Err(refused(format!(
                "the request comes from another origin ({origin:?})"
            )));
        }
    }
    Ok(())
}

/// Headers of the confirmation page: never framed (no click-jacking), never cached, and the
/// token never leaves in a `Referer` to another site.
const CONFIRM_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::CACHE_CONTROL, "no-store"),
];

/// `GET /dang-nhap?token=…`: shows who the token signs in as, with a button that confirms;
/// opens no session and does not use the token up.
pub async fn login(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = Lang::from_cookie(cookie(&headers, LANG_COOKIE));
    let identity = match vouched(&state, &q.token).await {
        Ok(i) => i,
        Err(e) => return (CONFIRM_HEADERS, e).into_response(),
    };
    let who = format!(
        "{} [{}@{}]",
        identity.name,
        identity.roles.join("+"),
        identity.unit
    );
    let body = bare_page(
        lang,
        lang.t("Đăng nhập", "Sign in"),
        maud::html! {
            p id="sign-in-as" {
                (lang.t("Đăng nhập với tư cách: ", "Sign in as: ")) strong { (who) }
            }
            p { (lang.t(
                "Nếu đây không phải là bạn, hoặc bạn không tự mở địa chỉ này, hãy đóng trang.",
                "If this is not you, or you did not open this address yourself, close the page.")) }
            form method="post" action="/dang-nhap" {
                input type="hidden" name="token" value=(q.token);
                button type="submit" id="sign-in" { (lang.t("Đăng nhập", "Sign in")) }
            }
        },
    );
    (CONFIRM_HEADERS, body).into_response()
}

/// `POST /dang-nhap` (the confirmation): exchanges a login token for a session, once.
pub async fn login_confirm(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<LoginQuery>,
) -> Response {
    if let Err(e) = same_site(&headers) {
        tracing::warn!(error = %e.message, "web login refused");
        return e.into_response();
    }
    let identity = match vouched(&state, &form.token).await {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let first = match state
        .node
        .use_web_login(&identity.nonce, identity.expires_at)
        .await
    {
        Ok(first) => first,
        Err(e) => return WebError::from(e).into_response(),
    };
    if !first {
        return WebError {
            status: StatusCode::UNAUTHORIZED,
            message: "token: this login token was already used; ask for a new one with `quyhoach web-login`".into(),
        }
        .into_response();
    }
    let caller = Caller::Certified {
        roles: identity.parsed_roles(),
        unit: identity.unit,
        name: identity.name,
    };
    tracing::info!(who = %caller.label(), "web session opened");
    let id = state.sessions.open(caller, identity.serial);
    (
        [(
            header::SET_COOKIE,
            format!(
                "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age={}",
                SESSION_LIFETIME.as_secs()
            ),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// The form of a POST that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /dang-xuat`: ends the session.
///
/// # Errors
///
/// A [`WebError`] if the form's CSRF token is not the session's.
pub async fn logout(
    State(state): State<WebState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&viewer, &form.csrf)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.close(id);
    }
    Ok((
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=0"),
        )],
        Redirect::to("/"),
    )
        .into_response())
}

/// Returns true if and only if `back` is a path of this site that a `Location` header can
/// carry: never a redirect elsewhere (`//host`, or `/\host`, which browsers read as
/// `//host`), never a control character (a header split, or a refused header).
fn local_path(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && !back.chars().any(char::is_control)
        && back.len() <= 2048
}

/// The query of the language switch.
#[derive(Debug, Deserialize)]
pub struct LanguageQuery {
    lang: String,
    #[serde(default)]
    back: String,
}

/// `GET /ngon-ngu?lang=en&back=/path`: switches the page's language.
pub async fn language(Query(q): Query<LanguageQuery>) -> Response {
    let lang = Lang::from_cookie(Some(&q.lang));
    let back = if local_path(&q.back) {
        q.back
    } else {
        "/".into()
    };
    (
        [(
            header::SET_COOKIE,
            format!(
                "{LANG_COOKIE}={}; SameSite=Strict; Path=/; Max-Age=31536000",
                lang.code()
            ),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn viewer(sessions: &Sessions, session: &str, roles: &[Role]) -> Viewer {
        Viewer {
            caller: Caller::Certified {
                unit: "40".into(),
                roles: roles.to_vec(),
                name: "A".into(),
            },
            csrf: sessions.csrf_for(session),
            lang: Lang::Vi,
            root: "40".into(),
        }
    }

    #[test]
    fn a_csrf_token_belongs_to_one_session() {
        let s = Sessions::new([7; 32], false);
        let a = viewer(&s, "session-a", &[Role::Approver]);
        assert!(check_csrf(&a, &s.csrf_for("session-a")).is_ok());
        assert!(
            check_csrf(&a, &s.csrf_for("session-b")).is_err(),
            "another session's"
        );
        assert!(check_csrf(&a, "").is_err(), "none");
        let other_key = Sessions::new([8; 32], false);
        assert!(
            check_csrf(&a, &other_key.csrf_for("session-a")).is_err(),
            "another node's"
        );
    }

    #[test]
    fn readers_see_masked_ids_and_the_working_roles_full_ones() {
        let s = Sessions::new([7; 32], false);
        assert!(!viewer(&s, "x", &[Role::Reader]).sees_full_ids());
        for role in [Role::Clerk, Role::Approver, Role::Admin] {
            assert!(viewer(&s, "x", &[Role::Reader, role]).sees_full_ids());
        }
        assert_ne!(s.person_ref("040076000001"), s.person_ref("040076000002"));
        assert!(!s.person_ref("040076000001").contains("0001"));
    }
}
