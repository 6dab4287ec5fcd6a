//! Exports as a node operation. Documents on cadres are state secrets (Law 117/2025/QH15), so
//! every export, whichever face makes it (the CLI's `export` through `RecordExport`, the web
//! page's downloads), first passes [`Node::record_export`]: it writes an audit record of who
//! exported what and when, durably, and only then hands back the classification mark the file
//! must carry. A face that cannot record the export writes no file.

use super::{Event, Node};
use crate::{
    auth::Caller,
    domain::PlanId,
    error::{Error, Result},
    tabular::Classification,
};

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWhat {
    /// The consolidated list of a subtree (or the rows of it a page shows).
    Consolidated,
    /// One unit's plan.
    Plan,
    /// The findings of the checks.
    Findings,
}

impl ExportWhat {
    /// The name the audit record and the proto use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consolidated => "consolidated",
            Self::Plan => "plan",
            Self::Findings => "findings",
        }
    }

    /// Reads [`ExportWhat::as_str`]'s names.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `field` for any other text.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        [Self::Consolidated, Self::Plan, Self::Findings]
            .into_iter()
            .find(|w| w.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    format!(
                        "{} is not consolidated, plan or findings",
                        crate::domain::validate::prefix(text)
                    ),
                )
            })
    }
}

/// The file an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `.xlsx`, the flat layout.
    Xlsx,
    /// `.xlsx`, the official layout (a plan only).
    Official,
    /// `.csv`.
    Csv,
    /// `.json`.
    Json,
}

impl ExportFormat {
    /// The name the audit record and the proto use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Xlsx => "xlsx",
            Self::Official => "official",
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// Reads [`ExportFormat::as_str`]'s names.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `field` for any other text.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        [Self::Xlsx, Self::Official, Self::Csv, Self::Json]
            .into_iter()
            .find(|f| f.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    format!(
                        "{} is not xlsx, official, csv or json",
                        crate::domain::validate::prefix(text)
                    ),
                )
            })
    }
}

/// One export, as its audit record tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// What it holds.
    pub what: ExportWhat,
    /// The file it writes.
    pub format: ExportFormat,
    /// The unit: the subtree of a consolidated list or of findings (empty: the node's own),
    /// or the plan's unit.
    pub unit: String,
    /// The term (empty: every term; a plan names its term).
    pub term: String,
    /// The plan's version (a plan only; 0: the latest).
    pub version: u32,
    /// How many rows (entries, findings) it holds.
    pub rows: u64,
    /// Where it is made: "cli" (through `RecordExport`) or "web" (a download).
    pub face: &'static str,
}

impl Node {
    /// Records `who`'s export in the audit trail (action `export`, actor `who`; the detail names what, the
    /// format, the unit, the term, the rows, the face and the mark) and returns the
    /// classification the file must carry. Call it before the bytes leave the node's faces:
    /// the record is on disk when this returns.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if `who` may not read the unit's plans; [`Error::NotFound`] if the unit
    /// or the term is unknown; [`Error::Invalid`] if a plan
    /// export names no unit or term, or the official layout is asked for anything but a plan;
    /// [`Error::Denied`] if the unit lies outside this node's subtree; [`Error::Store`] if the
    /// record cannot be written (then nothing may be exported).
    pub async fn record_export(
        &self,
        who: &Caller,
        export: &Export,
    ) -> Result<Option<Classification>> {
        let root = self.scope(who, &export.unit)?;
        if !export.term.is_empty() {
            self.known_term("term", &export.term)?;
        }
        let plan = match export.what {
            ExportWhat::Plan => {
                if export.unit.is_empty() || export.term.is_empty() {
                    return Err(Error::invalid(
                        "unit",
                        "a plan export names the plan's unit and term",
                    ));
                }
                Some(PlanId {
                    unit: export.unit.clone(),
                    term: export.term.clone(),
                    version: export.version,
                })
            }
            _ if export.format == ExportFormat::Official => {
                return Err(Error::invalid(
                    "format",
                    "the official layout is for a unit's plan",
                ))
            }
            _ => None,
        };
        let mark = self.classification.clone();
        let detail = format!(
            "{} as {} of {root}{}, {} rows, through the {}, marked {}",
            export.what.as_str(),
            export.format.as_str(),
            if export.term.is_empty() {
                String::new()
            } else {
                format!(" term {}", export.term)
            },
            export.rows,
            export.face,
            mark.as_ref().map_or("(none)", Classification::as_str),
        );
        let guard = self.lock().await;
        // A plan's record names it only when it names a stored version (0 is "the latest").
        let event = Event::new("export", plan.as_ref().filter(|p| p.version != 0))
            .detail(detail)
            .by(who);
        self.commit(guard, event, Vec::new()).await?;
        tracing::info!(what = export.what.as_str(), unit = %root, rows = export.rows, "export recorded");
        Ok(mark)
    }
}
