//! Compliance pages: the audit trail with filters and keyset paging (newest first, so a
//! trail of millions of events pages in constant time), export as JSON Lines or CSV with
//! the covering checkpoint, chain verification, and per-job or per-release provenance.
//! The same service calls as `ssh ... audit ...` and `/api/v1/audit/...`.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Msg};
use super::render::json;
use super::{Page, WebState, error_page, layout, url_component as enc};
use crate::service::ServiceError;
use crate::store::AuditFilter;

/// Events per page.
const PAGE: i64 = 50;

/// The filter form's fields (all optional; empty means "any").
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TrailQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    dataset: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` input, read as UTC) or RFC 3339.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Show events with a smaller sequence number than this.
    before: Option<i64>,
    /// `jsonl` or `csv` (export only).
    format: Option<String>,
}

/// A form time as the store compares it, or why it is not one.
fn time_bound(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let full = match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => text.to_owned(),
    };
    let parsed = time::OffsetDateTime::parse(&full, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("not a time: {text} (use YYYY-MM-DDTHH:MM, UTC)"))?;
    crate::store::format_time(parsed)
        .map(Some)
        .map_err(|e| e.to_string())
}

impl TrailQuery {
    fn filter(&self) -> Result<AuditFilter, String> {
        let some = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        };
        Ok(AuditFilter {
            actor: some(&self.actor),
            project: some(&self.project),
            dataset: some(&self.dataset),
            target: some(&self.target),
            action: some(&self.action),
            outcome: some(&self.outcome),
            from: time_bound(&self.from)?,
            to: time_bound(&self.to)?,
        })
    }

    /// The filters as a query string (for paging and export links).
    fn query_string(&self) -> String {
        [
            ("actor", &self.actor),
            ("project", &self.project),
            ("dataset", &self.dataset),
            ("target", &self.target),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

fn filter_form(lang: Lang, q: &TrailQuery) -> Markup {
    let field = |name: &'static str, label: Msg, value: &str| {
        html! { label { (lang.t(label)) input name=(name) value=(value); } }
    };
    html! {
        form.filters #filters method="get" action="/audit" {
            (field("actor", Msg::Actor, &q.actor))
            (field("project", Msg::Project, &q.project))
            (field("dataset", Msg::Dataset, &q.dataset))
            (field("target", Msg::Target, &q.target))
            (field("action", Msg::Action, &q.action))
            label { (lang.t(Msg::Outcome))
                select name="outcome" {
                    option value="" { (lang.t(Msg::Any)) }
                    @for o in ["ok", "denied", "error"] {
                        option value=(o) selected[q.outcome == o] { (lang.word(o)) }
                    }
                }
            }
            label { (lang.t(Msg::From)) input type="datetime-local" name="from" value=(q.from); }
            label { (lang.t(Msg::To)) input type="datetime-local" name="to" value=(q.to); }
            button type="submit" { (lang.t(Msg::Filter)) }
        }
    }
}

/// `GET /audit`.
pub(crate) async fn trail(
    State(state): State<WebState>,
    page: Page,
    Query(q): Query<TrailQuery>,
) -> Response {
    let lang = page.lang;
    let filter = match q.filter() {
        Ok(filter) => filter,
        Err(message) => {
            let error = state
                .service
                .reject_malformed(page.caller(), "GET /audit", &message)
                .await;
            return error_page(&page, &error);
        }
    };
    let events = match state
        .service
        .audit_events_newest(page.caller(), &filter, q.before, PAGE)
        .await
    {
        Ok(events) => events,
        Err(error) => return error_page(&page, &error),
    };
    let size = state.service.store().audit_size().await.unwrap_or_default();
    let qs = q.query_string();
    let amp = if qs.is_empty() { "" } else { "&" };
    let older = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let body = html! {
        h1 { (lang.t(Msg::AuditTrail)) }
        p.muted { (size) " events; " a href="/audit/verify" { (lang.t(Msg::Verify)) } }
        (filter_form(lang, &q))
        p.export {
            (lang.t(Msg::Export)) ": "
            a #export-jsonl href={ "/audit/export?format=jsonl" (amp) (qs) } { "JSON Lines" } " · "
            a #export-csv href={ "/audit/export?format=csv" (amp) (qs) } { "CSV" }
        }
        @if events.is_empty() { p.muted #no-events { (lang.t(Msg::Nothing)) } } @else {
            table #events {
                thead { tr {
                    th { (lang.t(Msg::Seq)) } th { (lang.t(Msg::Time)) } th { (lang.t(Msg::Actor)) }
                    th { (lang.t(Msg::Action)) } th { (lang.t(Msg::Target)) } th { (lang.t(Msg::Project)) }
                    th { (lang.t(Msg::Outcome)) } th { (lang.t(Msg::Details)) }
                } }
                tbody {
                    @for e in &events {
                        tr data-seq=(e.seq) data-action=(e.action) data-actor=(e.actor) data-outcome=(e.outcome) {
                            td.num { (e.seq) } td { (e.time) } td { (e.actor) " " span.muted { (e.door) } }
                            td { code { (e.action) } }
                            td { @if e.target.starts_with("job-") || e.target.starts_with("rel-") {
                                a href={ "/provenance/" (enc(&e.target)) } { code { (e.target) } }
                            } @else { code { (e.target) } } }
                            td { (e.project) }
                            td class={ "outcome " (e.outcome) } { (lang.word(&e.outcome)) }
                            td.details { code { (e.details) } }
                        }
                    }
                }
            }
        }
        nav.paging {
            @if q.before.is_some() { a #first-page href={ "/audit?" (qs) } { (lang.t(Msg::FirstPage)) } " " }
            @if let Some(seq) = older { a #next-page href={ "/audit?before=" (seq) (amp) (qs) } { (lang.t(Msg::NextPage)) } }
        }
    };
    layout(&page, lang.t(Msg::AuditTrail), &body).into_response()
}

/// `GET /audit/export?format=jsonl|csv&...filters`: a download led by the covering
/// checkpoint.
pub(crate) async fn export(
    State(state): State<WebState>,
    page: Page,
    Query(q): Query<TrailQuery>,
) -> Response {
    let format = q.format.clone().unwrap_or_else(|| "jsonl".into());
    let filter = match (format.as_str(), q.filter()) {
        ("jsonl" | "csv", Ok(filter)) => filter,
        (_, result) => {
            let message = result
                .err()
                .unwrap_or_else(|| "format must be jsonl or csv".into());
            let error = state
                .service
                .reject_malformed(page.caller(), "GET /audit/export", &message)
                .await;
            return error_page(&page, &error);
        }
    };
    let (events, checkpoint) = match state.service.audit_export(page.caller(), &filter).await {
        Ok(exported) => exported,
        Err(error) => return error_page(&page, &error),
    };
    let text = match crate::cli_audit::render_export(&events, &checkpoint, &format) {
        Ok(text) => text,
        Err(error) => return error_page(&page, &ServiceError::Internal(error.to_string())),
    };
    let (content_type, extension) = if format == "csv" {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"audit-{}.{extension}\"",
                    checkpoint.tree_size
                ),
            ),
        ],
        text,
    )
        .into_response()
}

/// `GET /audit/verify`: verifies the whole chain and every checkpoint now.
pub(crate) async fn verify(State(state): State<WebState>, page: Page) -> Response {
    let lang = page.lang;
    let report = match state.service.verify_trail(page.caller(), None).await {
        Ok(report) => report,
        Err(error) => return error_page(&page, &error),
    };
    let body = html! {
        h1 { (lang.t(Msg::Verify)) }
        @match &report.problem {
            None => p.ok #chain-status data-status="ok" { (lang.t(Msg::ChainOk)) },
            Some(problem) => p.error #chain-status data-status="broken" role="alert" { (lang.t(Msg::ChainBroken)) " " (problem) },
        }
        dl.facts {
            dt { (lang.t(Msg::Events)) } dd #verified-events { (report.events) }
            dt { "head" } dd { code { (report.head) } }
            dt { "Merkle root" } dd { code { (report.root_hash) } }
            dt { "checkpoints" } dd { (report.checkpoints) }
            dt { "purged" } dd { (report.purged) }
        }
    };
    layout(&page, lang.t(Msg::Verify), &body).into_response()
}

/// `GET /provenance/{job|rel-…}`: module hash, dataset version, limits, outputs, checks,
/// votes and releases of a job or request.
pub(crate) async fn provenance(
    State(state): State<WebState>,
    page: Page,
    Path(id): Path<String>,
) -> Response {
    let lang = page.lang;
    let provenance = match state.service.provenance(page.caller(), &id).await {
        Ok(provenance) => provenance,
        Err(error) => return error_page(&page, &error),
    };
    let value = serde_json::to_value(&provenance).unwrap_or_default();
    let body = html! {
        h1 { (lang.t(Msg::Provenance)) " " code { (id) } }
        div #provenance { (json(&value)) }
    };
    layout(&page, lang.t(Msg::Provenance), &body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_times_become_store_times() {
        assert_eq!(
            time_bound("2026-11-22T03:04").ok().flatten().as_deref(),
            Some("2026-11-22T03:04:00.000000Z")
        );
        assert_eq!(time_bound("").ok().flatten(), None);
        assert!(time_bound("yesterday").is_err());
    }
}
