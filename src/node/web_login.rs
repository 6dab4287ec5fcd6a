//! The short-lived web login (đăng nhập trang web): a person who holds a client certificate
//! asks the node, over gRPC, for a login token; the token names their unit, roles and name and
//! expires soon; the node's web page exchanges it for a session. Tokens are signed with a key
//! that the node keeps in its store (created on first use), with blake3's keyed hash as the
//! MAC, so that only this node can issue or accept them, also across restarts.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Event, Node};
use crate::{
    auth::Caller,
    auth::Role,
    error::{Error, Result},
    store::Change,
};

/// Where the signing key is kept.
const KEY_DOCUMENT: &str = "web/login-key";
/// The store document of used login tokens: their nonces, each with its token's expiry
/// (RFC 3339), kept until then so that a used link stays used across a restart.
const USED_DOCUMENT: &str = "web/login-used";

/// How long a login token stays valid: long enough to paste it into a browser.
pub const LOGIN_TOKEN_SECONDS: i64 = 300;

/// What a login token vouches for: the certificate it was issued against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebIdentity {
    /// The unit the certificate names.
    pub unit: String,
    /// Its roles, as their names.
    pub roles: Vec<String>,
    /// The certificate's common name.
    pub name: String,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// A random value, so that two tokens are never alike (and each can be used once).
    pub nonce: String,
    /// The serial number (hex) of the certificate the token was issued against, so that the
    /// web page refuses it once the revocation list names that certificate. Empty for a token
    /// issued without a certificate at hand.
    #[serde(default)]
    pub serial: String,
}

impl WebIdentity {
    /// The roles that parse; unknown names are dropped.
    pub fn parsed_roles(&self) -> Vec<Role> {
        self.roles.iter().filter_map(|r| r.parse().ok()).collect()
    }
}

impl Node {
    /// The node's web signing key, created and stored on first use.
    ///
    /// # Errors
    ///
    /// A store failure, or a stored key that is not 32 bytes of hex.
    pub async fn web_key(&self) -> Result<[u8; 32]> {
        if let Some(key) = self.stored_web_key()? {
            return Ok(key);
        }
        let guard = self.lock().await;
        if let Some(key) = self.stored_web_key()? {
            return Ok(key);
        }
        let key: [u8; 32] = rand::random();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.commit(
            guard,
            Event::new("web_key", None).detail("web login signing key created"),
            vec![Change::SetDocument(
                KEY_DOCUMENT.into(),
                serde_json::Value::String(hex),
            )],
        )
        .await?;
        Ok(key)
    }

    /// The used login tokens the store holds that have not expired: nonce → expiry.
    fn used_web_logins(&self) -> Result<std::collections::BTreeMap<String, DateTime<Utc>>> {
        let now = self.now();
        let Some(value) = self.store.document(USED_DOCUMENT)? else {
            return Ok(Default::default());
        };
        // A damaged entry is dropped: its token has a signature and an expiry of its own.
        Ok(value
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(nonce, until)| {
                let until = DateTime::parse_from_rfc3339(until.as_str()?).ok()?;
                Some((nonce.clone(), until.with_timezone(&Utc)))
            })
            .filter(|(_, until)| *until > now)
            .collect())
    }

    /// Returns true if and only if the login token with `nonce` was exchanged for a session
    /// already (kept in the store until the token expires, so a restart forgets none).
    ///
    /// # Errors
    ///
    /// A store failure.
    pub fn web_login_used(&self, nonce: &str) -> Result<bool> {
        Ok(self.used_web_logins()?.contains_key(nonce))
    }

    /// Marks the login token with `nonce`, valid `until`, used; answers false if it was used
    /// before. The mark is on disk before the answer (the sign-in is recorded in the audit
    /// trail with it); expired marks are dropped.
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn use_web_login(&self, nonce: &str, until: DateTime<Utc>) -> Result<bool> {
        let guard = self.lock().await;
        let mut used = self.used_web_logins()?;
        if used.contains_key(nonce) {
            return Ok(false);
        }
        used.insert(nonce.to_string(), until);
        let value = serde_json::Value::Object(
            used.into_iter()
                .map(|(n, t)| (n, serde_json::Value::String(t.to_rfc3339())))
                .collect(),
        );
        self.commit(
            guard,
            Event::new("web_login_used", None).detail("web sign-in: a login token used"),
            vec![Change::SetDocument(USED_DOCUMENT.into(), value)],
        )
        .await?;
        Ok(true)
    }

    fn stored_web_key(&self) -> Result<Option<[u8; 32]>> {
        let Some(value) = self.store.document(KEY_DOCUMENT)? else {
            return Ok(None);
        };
        let hex = value.as_str().unwrap_or_default();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .filter_map(|i| hex.get(i..i + 2))
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect();
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Store(crate::store::StoreError::Transaction(
                "the stored web login key is damaged".into(),
            ))
        })?;
        Ok(Some(key))
    }

    /// Issues a login token for `who`, the holder of a certificate of a unit with roles, valid
    /// for [`LOGIN_TOKEN_SECONDS`]; `serial` (hex, may be empty) is the certificate's serial
    /// number, which the token carries so that the web page can check it against the
    /// revocation list. The issue is recorded in the audit trail.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] when the certificate carries no role; [`Error::Precondition`] for an
    /// insecure node's caller (its page needs no login); [`Error::NotFound`] when the
    /// certificate's unit is not in the hierarchy; a store failure.
    pub async fn issue_web_login(
        &self,
        who: &Caller,
        serial: &str,
    ) -> Result<(String, WebIdentity)> {
        who.require_authenticated()?;
        let Caller::Certified { unit, roles, name } = who else {
            return Err(Error::precondition(
                "caller",
                "this node runs --insecure: its web page is open without a login",
            ));
        };
        // A certificate is validated like a local write: its unit must be one this node knows
        // (a URI SAN such as `urn:quyhoach:unit:40?x` or `…:40/../412` names none).
        self.known_unit("certificate unit", unit)?;
        let key = self.web_key().await?;
        let nonce: [u8; 16] = rand::random();
        let identity = WebIdentity {
            unit: unit.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            name: name.to_string(),
            expires_at: self.now() + chrono::Duration::seconds(LOGIN_TOKEN_SECONDS),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            serial: serial.to_string(),
        };
        let payload = serde_json::to_vec(&identity).expect("identity serializes");
        let mac = blake3::keyed_hash(&key, &payload);
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac.as_bytes())
        );
        let guard = self.lock().await;
        self.commit(
            guard,
            Event::new("web_login", None)
                .detail(format!(
                    "web login issued until {}",
                    identity.expires_at.to_rfc3339()
                ))
                .by(who),
            vec![],
        )
        .await?;
        Ok((token, identity))
    }

    /// Checks a login token's signature and expiry and returns what it vouches for.
    ///
    /// # Errors
    ///
    /// DENIED when the token is malformed, signed by another key, or expired; a store failure.
    pub async fn verify_web_login(&self, token: &str) -> Result<WebIdentity> {
        let bad = |why: &str| Error::denied("token", why.to_string());
        let (payload, mac) = token
            .trim()
            .split_once('.')
            .ok_or_else(|| bad("malformed"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad("malformed"))?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| bad("malformed"))?;
        let mac: [u8; 32] = mac.try_into().map_err(|_| bad("malformed"))?;
        let key = self.web_key().await?;
        // blake3::Hash compares in constant time.
        if blake3::keyed_hash(&key, &payload) != blake3::Hash::from_bytes(mac) {
            return Err(bad("not signed by this node"));
        }
        let identity: WebIdentity =
            serde_json::from_slice(&payload).map_err(|_| bad("malformed"))?;
        if identity.expires_at <= self.now() {
            return Err(bad("expired: ask for a new one with `quyhoach web-login`"));
        }
        Ok(identity)
    }
}
