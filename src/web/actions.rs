//! The approver's actions: approve or return a plan citing findings, and accept a warning with
//! a written justification. Each is a form with the session's CSRF token; each POST checks the
//! token and the approver role at this node's unit, then calls the same node operation as the
//! gRPC call, on behalf of the signed-in person, so that it leaves the same audit record.

use axum::{
    extract::{FromRequest, Multipart, Path, Request, State},
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Redirect, Response},
};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    pages::{load_plan, plan_href},
    session::{check_csrf, Viewer},
    typed::{one_or_many, read_form, TypedForm},
    WebError, WebState,
};
use crate::{
    domain::{Outcome, Plan},
    node::CheckedFinding,
    rules::Severity,
};

/// The forms of a plan awaiting this unit's decision.
pub fn forms(viewer: &Viewer, plan: &Plan, findings: &[CheckedFinding]) -> Markup {
    let l = viewer.lang;
    let action = |what: &str| format!("{}/{what}", plan_href(&plan.id));
    let hash = plan.hash.clone().unwrap_or_default();
    html! {
        section.actions id="actions" {
            h2 { (l.t("Quyết định của đơn vị", "This unit's decision")) }
            form.action id="approve-form" method="post" action=(action("quyet-dinh")) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="hash" value=(hash);
                input type="hidden" name="outcome" value="approve";
                label {
                    (l.t("Chữ ký số (tệp .p7s, không bắt buộc), ký trên chuỗi", "Digital signature (a .p7s file, optional), signed over the text"))
                    " " code.hash { (hash) }
                    input type="file" id="cms" name="cms" accept=".p7s,.p7m,.pem,application/pkcs7-signature";
                }
                button.primary id="approve" type="submit" { (l.t("Phê duyệt", "Approve")) }
            }
            form.action id="return-form" method="post" action=(action("quyet-dinh")) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="hash" value=(hash);
                input type="hidden" name="outcome" value="return";
                fieldset {
                    legend { (l.t("Trả lại, viện dẫn phát hiện", "Return, citing findings")) }
                    @for f in findings {
                        label.check { input type="checkbox" name="cite" value=(f.id);
                            " " (f.finding.rule.as_str()) " #" (f.id) ": " (l.t(&f.finding.message_vi, &f.finding.message_en)) }
                    }
                    label { (l.t("Lý do thêm (mỗi dòng một lý do)", "Further reasons (one per line)"))
                        textarea name="reasons" rows="3" {} }
                }
                button.danger id="return" type="submit" { (l.t("Trả lại", "Return")) }
            }
            @for f in findings.iter().filter(|f| f.finding.severity == Severity::Warning && f.acceptance.is_none()) {
                form.action.accept method="post" action=(action("chap-nhan")) data-finding=(f.id) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="finding" value=(f.id);
                    fieldset {
                        legend { (l.t("Chấp nhận cảnh báo", "Accept warning")) " " (f.finding.rule.as_str()) " #" (f.id) }
                        label { (l.t("Lý do chấp nhận", "Justification")) textarea name="justification" rows="2" required {} }
                        label { (l.t("Người chấp nhận", "Accepted by")) input type="text" name="by" required value=(viewer_name(viewer)); }
                    }
                    button type="submit" { (l.t("Chấp nhận", "Accept")) }
                }
            }
        }
    }
}

fn viewer_name(viewer: &Viewer) -> String {
    match &viewer.caller {
        crate::auth::Caller::Certified { name, .. } => name.clone(),
        crate::auth::Caller::Insecure => String::new(),
    }
}

/// The approve-or-return form as [`forms`] writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideForm {
    /// The session's token; missing reads as empty, refused as a bad token (403).
    #[serde(default)]
    csrf: String,
    /// The content hash of the version shown: the decision is refused if it moved.
    #[serde(default)]
    hash: String,
    /// `approve` or `return`.
    #[serde(default)]
    outcome: String,
    /// Further reasons, one a line.
    #[serde(default)]
    reasons: String,
    /// The IDs of the findings cited (checked boxes).
    #[serde(default, deserialize_with = "one_or_many")]
    cite: Vec<String>,
}

/// The body of a decision: the return form's (`application/x-www-form-urlencoded`, read as
/// [`TypedForm`] reads it), or the approve form's (`multipart/form-data`), whose `cms` part is
/// the approver's detached CMS signature file (`.p7s`, DER or PEM, as `quyhoach decide --cms
/// FILE` reads it; an empty part: none chosen). Any other part is refused naming it; the body
/// is bounded by axum's default limit (2 MiB) and the file by
/// [`crate::signature::cms_der`].
#[derive(Debug)]
pub struct DecideBody {
    form: DecideForm,
    /// The signature file's bytes as DER, when one was chosen.
    cms: Option<Vec<u8>>,
}

impl<S: Send + Sync> FromRequest<S> for DecideBody {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let TypedForm(form) = TypedForm::<DecideForm>::from_request(req, state).await?;
            return Ok(Self { form, cms: None });
        }
        let mut parts = Multipart::from_request(req, state)
            .await
            .map_err(|r| WebError::bad_request(format!("form: {}", r.body_text())))?;
        let bad = |e: axum::extract::multipart::MultipartError| {
            WebError::bad_request(format!("form: {}", e.body_text()))
        };
        let mut pairs = Vec::new();
        let mut cms = None;
        while let Some(part) = parts.next_field().await.map_err(bad)? {
            let name = part.name().unwrap_or_default().to_string();
            if name == "cms" {
                let bytes = part.bytes().await.map_err(bad)?;
                if !bytes.is_empty() {
                    let der = crate::signature::cms_der(&bytes)
                        .map_err(|e| WebError::bad_request(format!("cms_signature: {e}")))?;
                    cms = Some(der);
                }
            } else {
                pairs.push((name, part.text().await.map_err(bad)?));
            }
        }
        Ok(Self {
            form: read_form(pairs)?,
            cms,
        })
    }
}

/// The accept-a-warning form as [`forms`] writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptForm {
    /// The session's token; missing reads as empty, refused as a bad token (403).
    #[serde(default)]
    csrf: String,
    /// The ID of the warning accepted.
    finding: String,
    /// Why it is accepted (required by the node).
    justification: String,
    /// Who accepts it, by name.
    by: String,
}

/// `POST /ke-hoach/UNIT/TERM/VERSION/quyet-dinh`: approve or return. An approval may carry
/// the approver's detached CMS signature (the form's `cms` file), verified by the node exactly
/// as `DecidePlan`'s `cms_signature` (`Node::decide`): a signature that does not hold
/// is refused with its reason on the error page, and nothing is decided.
pub async fn decide(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((unit, term, version)): Path<(String, String, String)>,
    DecideBody { form, cms }: DecideBody,
) -> Result<Response, WebError> {
    check_csrf(&viewer, &form.csrf)?;
    let node = &state.node;
    let plan = load_plan(&state, &viewer, &unit, &term, &version).await?;
    let outcome = match form.outcome.as_str() {
        "approve" => Outcome::Approve,
        "return" => Outcome::Return,
        other => {
            return Err(WebError::bad_request(format!(
                "outcome: {other:?} is neither approve nor return"
            )))
        }
    };
    let mut cite = form.cite;
    cite.sort();
    let reasons: Vec<String> = form
        .reasons
        .lines()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect();
    node.decide(
        &viewer.caller,
        &plan.id,
        form.hash.trim(),
        outcome,
        reasons,
        &cite,
        cms.as_deref(),
    )
    .await?;
    Ok(Redirect::to(&plan_href(&plan.id)).into_response())
}

/// `POST /ke-hoach/UNIT/TERM/VERSION/chap-nhan`: accept a warning.
pub async fn accept(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((unit, term, version)): Path<(String, String, String)>,
    TypedForm(form): TypedForm<AcceptForm>,
) -> Result<Response, WebError> {
    check_csrf(&viewer, &form.csrf)?;
    let node = &state.node;
    let plan = load_plan(&state, &viewer, &unit, &term, &version).await?;
    node.accept_warning(
        &viewer.caller,
        &plan.id,
        form.finding.trim(),
        &form.justification,
        &form.by,
    )
    .await?;
    Ok(Redirect::to(&plan_href(&plan.id)).into_response())
}
