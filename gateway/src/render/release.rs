//! How release answers look on a terminal (text or `--json`).

use serde::Serialize;

use crate::service::{ReleaseView, ReviewView};

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"null".to_vec());
    out.push(b'\n');
    out
}

/// `request-release`: the new id.
pub fn created(id: &str, as_json: bool) -> Vec<u8> {
    if as_json {
        json(&serde_json::json!({ "request": id }))
    } else {
        format!("{id}\n").into_bytes()
    }
}

/// `withdraw`, `resubmit`: the request's id and new state.
pub fn changed(id: &str, state: &str, as_json: bool) -> Vec<u8> {
    if as_json {
        json(&serde_json::json!({ "request": id, "state": state }))
    } else {
        format!("{id} {state}\n").into_bytes()
    }
}

/// `requests`, `review-queue`: one line per request.
pub fn list(requests: &[ReleaseView], as_json: bool) -> Vec<u8> {
    if as_json {
        return json(&serde_json::json!({ "requests": requests }));
    }
    let mut out = String::new();
    for r in requests {
        let files: Vec<&str> = r.files.iter().map(|f| f.name.as_str()).collect();
        out.push_str(&format!(
            "{}  {:<18}  {:<12}  {:<10}  {}  {}\n",
            r.id,
            r.state,
            r.project,
            r.author,
            r.created_at,
            files.join(",")
        ));
    }
    if requests.is_empty() {
        out.push_str("no release requests\n");
    }
    out.into_bytes()
}

/// `request`, `vote`: one request in full.
pub fn request(r: &ReleaseView, as_json: bool) -> Vec<u8> {
    if as_json {
        return json(r);
    }
    let mut out = format!(
        "request:   {}\nstate:     {}\nproject:   {} (dataset {})\nauthor:    {}\nround:     {}\napprovals: {} per file\ncontext:   {}\n",
        r.id, r.state, r.project, r.dataset, r.author, r.round, r.approvals_required, r.context
    );
    if let Some(j) = &r.justification {
        out.push_str(&format!("justification: {j}\n"));
    }
    out.push_str("files:\n");
    for f in &r.files {
        out.push_str(&format!(
            "  {:<28} {:<9} verdict {:<6} votes {}  {}{}\n",
            f.name,
            f.variant,
            f.verdict.as_deref().unwrap_or("-"),
            f.votes,
            f.outcome.as_deref().unwrap_or("pending"),
            f.released_sha256
                .as_deref()
                .map(|s| format!("  released sha256 {s}"))
                .unwrap_or_default()
        ));
    }
    if r.blinded {
        out.push_str("votes:     blinded until every file has its independent reviews\n");
    }
    for v in &r.votes {
        out.push_str(&format!(
            "  vote r{} {} {} {}: {}\n",
            v.round, v.file, v.checker, v.vote, v.comment
        ));
    }
    out.into_bytes()
}

/// `review`: the request and, per file, kind, verdict and flagged cells.
pub fn review(r: &ReviewView, as_json: bool) -> Vec<u8> {
    if as_json {
        return json(r);
    }
    let mut out = String::from_utf8(request(&r.request, false)).unwrap_or_default();
    for f in &r.files {
        out.push_str(&format!(
            "\n== {} ({}{}), automated verdict {}{}\n",
            f.name,
            f.kind.as_deref().unwrap_or("other"),
            if f.suggested {
                ", suggested version"
            } else {
                ""
            },
            f.verdict.as_deref().unwrap_or("unchecked"),
            if f.voted { ", you voted" } else { "" }
        ));
        if let Some(reasons) = f.reasons.as_array() {
            for reason in reasons {
                out.push_str(&format!("  reason: {}\n", compact(reason)));
            }
        }
        if let Some(cells) = f.flagged_cells.as_array() {
            for cell in cells {
                out.push_str(&format!("  cell: {}\n", compact(cell)));
            }
        }
    }
    out.into_bytes()
}

fn compact(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
