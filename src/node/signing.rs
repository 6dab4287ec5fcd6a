//! The node's signatures on plan versions (`bundle::sign`): signing a submission, a decision or
//! a receipt with the node's key, and keeping the signatures, its own and those other nodes
//! made, as documents beside the plan (`signature/<unit>/<term>/<version>/<kind>/<status>`).
//! A kept signature is answered again rather than made anew, so that the same bundle carried
//! twice gets the same signed receipt.

use super::{Event, Node};
use crate::{
    bundle::sign::{Kind, PlanSignature, Signer, Statement, Trust},
    domain::{PlanId, PlanStatus},
    error::{Error, Result},
    store::Change,
};

/// The store key of a kept signature.
fn key(kind: Kind, id: &PlanId, status: PlanStatus) -> String {
    format!("{}{}/{}", prefix(id), kind.as_str(), status.as_str())
}

/// The store prefix of every signature kept on one version.
fn prefix(id: &PlanId) -> String {
    format!("signature/{}/{}/{}/", id.unit, id.term, id.version)
}

impl Node {
    /// Gives the node its signing key (from its TLS material); a node started without TLS has
    /// none and signs nothing. Returns false if it had one already (the first stays).
    pub fn set_signer(&self, signer: Signer) -> bool {
        self.signer.set(signer).is_ok()
    }

    /// The node's signing key.
    ///
    /// # Errors
    ///
    /// [`Error::Precondition`] on a node started without TLS (`--insecure`): it has no key.
    pub fn signer(&self) -> Result<&Signer> {
        self.signer.get().ok_or_else(|| {
            Error::precondition(
                "node",
                format!(
                    "node {} runs without a key (--insecure): it can sign nothing; serve it with --cert, --key and --ca",
                    self.unit.code
                ),
            )
        })
    }

    /// The authority (and revocation list) this node checks other signers against.
    ///
    /// # Errors
    ///
    /// As [`Node::signer`].
    pub fn trust(&self) -> Result<&Trust> {
        Ok(&self.signer()?.trust)
    }

    /// The signature kept on `id` for `kind` and `status`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails or the kept document does not decode.
    pub fn kept_signature(
        &self,
        kind: Kind,
        id: &PlanId,
        status: PlanStatus,
    ) -> Result<Option<PlanSignature>> {
        let k = key(kind, id, status);
        Ok(crate::store::decoded_document(&*self.store, &k)?)
    }

    /// Every signature kept on the version `id`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails or a kept document does not decode.
    pub fn signatures_of(&self, id: &PlanId) -> Result<Vec<PlanSignature>> {
        Ok(crate::store::decoded_documents(&*self.store, &prefix(id))?)
    }

    /// This node's signature on `statement`: the one kept for the same version, kind and
    /// status when it vouches for the same content (a submission keeps its first signing
    /// time), otherwise a new one, kept (durably) before it is returned.
    ///
    /// # Errors
    ///
    /// [`Error::Precondition`] if the node has no key or `statement` is not by this node's
    /// unit; [`Error::Store`] if storage fails.
    pub async fn signed(&self, statement: Statement) -> Result<PlanSignature> {
        let signer = self.signer()?;
        if statement.by != self.unit.code {
            return Err(Error::precondition(
                "signature",
                format!(
                    "node {} signs only as itself, not as {}",
                    self.unit.code, statement.by
                ),
            ));
        }
        let same = |kept: &PlanSignature| {
            let k = &kept.statement;
            k.hash == statement.hash
                && k.by == statement.by
                && k.detail == statement.detail
                && (statement.kind == Kind::Submitted || k.date == statement.date)
        };
        if let Some(kept) =
            self.kept_signature(statement.kind, &statement.plan, statement.status)?
        {
            if same(&kept) {
                return Ok(kept);
            }
        }
        let guard = self.lock().await;
        // Checked again under the lock: two callers signing the same thing keep one signature.
        if let Some(kept) =
            self.kept_signature(statement.kind, &statement.plan, statement.status)?
        {
            if same(&kept) {
                return Ok(kept);
            }
        }
        let signature = signer.sign(statement).map_err(|e| {
            Error::precondition("signature", format!("node {}: {e}", self.unit.code))
        })?;
        self.keep(guard, "sign", signature.clone()).await?;
        Ok(signature)
    }

    /// Keeps a signature another node made (its child's submission or decision, its parent's
    /// decision or receipt), after the caller has verified it. Keeping the same one again
    /// changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if storage fails.
    pub async fn keep_signature(&self, signature: PlanSignature) -> Result<()> {
        let s = &signature.statement;
        if self.kept_signature(s.kind, &s.plan, s.status)?.as_ref() == Some(&signature) {
            return Ok(());
        }
        let guard = self.lock().await;
        self.keep(guard, "keep_signature", signature).await
    }

    async fn keep(
        &self,
        guard: tokio::sync::MutexGuard<'_, ()>,
        action: &'static str,
        signature: PlanSignature,
    ) -> Result<()> {
        let s = &signature.statement;
        let event = Event::new(action, Some(&s.plan)).detail(s.audit_line());
        self.commit(guard, event, vec![keeping(&signature)?]).await
    }
}

/// The store change that keeps `signature` (verified by the caller) as its document, for a
/// transaction that also holds what it vouches for (a received push keeps the child's
/// signatures with the plan).
///
/// # Errors
///
/// [`Error::Precondition`] if it cannot be encoded.
pub(super) fn keeping(signature: &PlanSignature) -> Result<Change> {
    let s = &signature.statement;
    let value = serde_json::to_value(signature)
        .map_err(|e| Error::precondition("signature", format!("cannot be kept: {e}")))?;
    Ok(Change::SetDocument(key(s.kind, &s.plan, s.status), value))
}
