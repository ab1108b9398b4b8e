//! The checker's side: the review queue, a request under review, file contents, votes; and
//! what a deciding vote sets off (freezing, the release record, the ledger).

use enclave_policy::Decision;
use enclave_policy::release::{
    FileOutcome, ReleaseRequest, ReleaseState, Vote, authorize_release, file_outcome, settle,
};
use enclave_policy::sdc::{Manifest, OutputKind};

use super::views::{FileReview, ReviewView, Viewer, view};
use super::{Opened, ReleaseView, check_text, facts_of};
use crate::audit::Outcome;
use crate::service::{Caller, Service, ServiceError, detail, event};
use crate::store::{LedgerRow, ReleaseRow, Store, VoteRow, WriteTx};

impl Service {
    /// Requests awaiting the caller's review: open, eligible, with a pending file the caller
    /// has not voted on.
    ///
    /// # Errors
    /// `Forbidden` unless the caller is a checker (and not an administrator).
    pub async fn review_queue(&self, caller: &Caller) -> Result<Vec<ReleaseView>, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "release.queue", Outcome::Ok);
        let decision = authorize_release(&actor, &ReleaseRequest::ReviewQueue, self.now().date());
        self.decide(&mut record, decision).await?;
        let open = [
            ReleaseState::Submitted.as_str(),
            ReleaseState::PartiallyReviewed.as_str(),
            ReleaseState::Reviewed.as_str(),
        ];
        let mut out = Vec::new();
        for row in self.store.releases(None, Some(&open)).await? {
            let facts = self.release_facts(&row).await?;
            let eligible = authorize_release(
                &actor,
                &ReleaseRequest::Review { release: &facts },
                self.now().date(),
            );
            let waiting = facts.files.iter().any(|file| {
                file_outcome(file, facts.approvals_required) == FileOutcome::Pending
                    && !file.votes.iter().any(|v| v.checker == caller.user)
            });
            if matches!(eligible, Decision::Allow(_)) && waiting {
                out.push(view(&row, &facts, &Viewer::Person(&caller.user)));
            }
        }
        detail(&mut record, "count", out.len());
        self.record(record).await?;
        Ok(out)
    }

    /// A request under review: context, justification, each file's kind, automated verdict
    /// and per-cell reasons.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Forbidden` unless the caller is an eligible checker.
    pub async fn review(&self, caller: &Caller, id: &str) -> Result<ReviewView, ServiceError> {
        let Opened {
            actor,
            mut record,
            row,
            facts,
        } = self
            .open_release(caller, "release.review", id, None)
            .await?;
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Review { release: &facts },
            self.now().date(),
        );
        self.decide(&mut record, decision).await?;
        let mut files = Vec::with_capacity(row.files.len());
        for (file, file_facts) in row.files.iter().zip(&facts.files) {
            let output = self.output_record(&file.job_id, &file.name).await?;
            let get = |key: &str| output.as_ref().and_then(|o| o.get(key)).cloned();
            let flagged: Vec<serde_json::Value> = get("cells")
                .and_then(|cells| cells.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter(|cell| cell.get("verdict").and_then(|v| v.as_str()) != Some("pass"))
                .collect();
            files.push(FileReview {
                name: file.name.clone(),
                kind: get("kind").and_then(|k| k.as_str().map(str::to_owned)),
                verdict: file.verdict.clone(),
                suggested: file.variant == "suggested",
                reasons: get("reasons").unwrap_or(serde_json::Value::Null),
                flagged_cells: serde_json::Value::Array(flagged),
                voted: file_facts.votes.iter().any(|v| v.checker == caller.user),
                suggested_sha256: get("suggested_digest")
                    .and_then(|d| d.get("sha256").and_then(|h| h.as_str().map(str::to_owned))),
            });
        }
        self.record(record).await?;
        Ok(ReviewView {
            request: view(&row, &facts, &Viewer::Person(&caller.user)),
            files,
        })
    }

    /// The bytes under review of one file (checkers are inside the trust boundary).
    ///
    /// # Errors
    /// As [`Service::review`], and `Invalid` for a file not in the request.
    pub async fn review_cat(
        &self,
        caller: &Caller,
        id: &str,
        file: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        self.review_bytes(caller, id, file, false).await
    }

    /// The automated checker's suggested safe version of a file under review (the
    /// original's counterpart, for side-by-side review).
    ///
    /// # Errors
    /// As [`Service::review_cat`], and `NotFound` when no suggestion was made.
    pub async fn review_suggested(
        &self,
        caller: &Caller,
        id: &str,
        file: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        self.review_bytes(caller, id, file, true).await
    }

    /// One file under review, as written or its suggested version; audited as
    /// `release.review_cat` with the hash of the bytes shown.
    async fn review_bytes(
        &self,
        caller: &Caller,
        id: &str,
        file: &str,
        suggested: bool,
    ) -> Result<Vec<u8>, ServiceError> {
        let Opened {
            actor,
            mut record,
            row,
            facts,
        } = self
            .open_release(caller, "release.review_cat", id, Some(file))
            .await?;
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Review { release: &facts },
            self.now().date(),
        );
        self.decide(&mut record, decision).await?;
        let Some(stored) = row.files.iter().find(|f| f.name == file) else {
            let message = format!("{file} is not in this request");
            return Err(self.invalid(record, message).await);
        };
        let sha256 = if suggested {
            let digest = self
                .output_record(&stored.job_id, &stored.name)
                .await?
                .and_then(|o| {
                    o.get("suggested_digest")?
                        .get("sha256")?
                        .as_str()
                        .map(str::to_owned)
                });
            let Some(sha256) = digest else {
                record.outcome = Outcome::Error;
                detail(&mut record, "reason", "no suggested version");
                let message = format!("{file} has no suggested version");
                return Err(self.refuse(record, ServiceError::NotFound(message)).await);
            };
            detail(&mut record, "variant", "suggested");
            sha256
        } else {
            stored.sha256.clone()
        };
        let bytes = self.quarantined(&sha256).await?;
        detail(&mut record, "sha256", sha256);
        self.record(record).await?;
        Ok(bytes)
    }

    /// Records a vote and moves the request on; a deciding vote releases, returns or
    /// rejects it in the same transaction. Returns the request as the voter now sees it.
    ///
    /// # Errors
    /// `Forbidden` for ineligible checkers; `Conflict` for double votes, decided files or
    /// closed requests; `Invalid` for a missing comment or a file not in the request.
    #[tracing::instrument(skip_all, fields(release = %id))]
    pub async fn vote(
        &self,
        caller: &Caller,
        id: &str,
        file: &str,
        vote: Vote,
        comment: &str,
    ) -> Result<ReleaseView, ServiceError> {
        let Opened {
            actor,
            mut record,
            row: _,
            facts,
        } = self
            .open_release(caller, "release.vote", id, Some(file))
            .await?;
        detail(&mut record, "vote", vote.as_str());
        if let Err(message) = check_text("comment", comment) {
            return Err(self.invalid(record, message).await);
        }
        let commented = !comment.trim().is_empty();
        let ask = |facts| ReleaseRequest::Vote {
            release: facts,
            file,
            vote,
            commented,
        };
        let today = self.now().date();
        self.decide(&mut record, authorize_release(&actor, &ask(&facts), today))
            .await?;
        let mut tx = self.store.begin_write().await?;
        let Some(mut row) = Store::release_for_update(&mut tx, id).await? else {
            return Err(ServiceError::Internal(format!("release {id} vanished")));
        };
        let locked = facts_of(&row, facts.project.clone(), facts.approvals_required);
        if let Decision::Deny(reason) = authorize_release(&actor, &ask(&locked), today) {
            drop(tx);
            self.decide(&mut record, Decision::Deny(reason)).await?;
            return Err(ServiceError::Conflict(format!("release {id} changed")));
        }
        let round = row
            .files
            .iter()
            .find(|f| f.name == file)
            .map_or(row.round, |f| f.round);
        let now = self.now_text()?;
        let cast = VoteRow {
            name: file.to_owned(),
            round,
            checker: caller.user.clone(),
            vote: vote.as_str().to_owned(),
            comment: comment.trim().to_owned(),
            created_at: now.clone(),
        };
        Store::insert_vote(&mut tx, id, &cast).await?;
        row.votes.push(cast);
        let after = facts_of(&row, facts.project.clone(), facts.approvals_required);
        let next = settle(&after);
        detail(&mut record, "round", round);
        detail(&mut record, "commented", commented);
        detail(&mut record, "state", next.as_str());
        self.record_in(&mut tx, record.clone()).await?;
        if next.as_str() != row.state {
            let from = std::mem::replace(&mut row.state, next.as_str().to_owned());
            row.updated_at.clone_from(&now);
            for (file, facts) in row.files.iter_mut().zip(&after.files) {
                file.outcome = match file_outcome(facts, after.approvals_required) {
                    FileOutcome::Pending => None,
                    FileOutcome::Approved => Some("approved".into()),
                    FileOutcome::Changes => Some("changes".into()),
                    FileOutcome::Rejected => Some("rejected".into()),
                };
            }
            let mut moved = record.clone();
            moved.action = "release.state".into();
            moved.details = serde_json::json!({ "from": from, "to": next.as_str() });
            if next == ReleaseState::Released {
                self.freeze(&mut tx, &mut row, &now).await?;
                moved.action = "release.release".into();
                let files: Vec<serde_json::Value> = row
                    .files
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "name": f.name, "outcome": f.outcome,
                            "released_sha256": f.released_sha256,
                        })
                    })
                    .collect();
                detail(&mut moved, "files", files);
                let record_hash = row
                    .record
                    .as_deref()
                    .map(|r| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(r.as_bytes())));
                detail(&mut moved, "record_sha256", record_hash);
            }
            for file in &row.files {
                Store::put_release_file(&mut tx, id, file).await?;
            }
            Store::update_release(&mut tx, &row).await?;
            self.record_in(&mut tx, moved).await?;
        }
        tx.commit().await?;
        let facts = facts_of(&row, facts.project, facts.approvals_required);
        Ok(view(&row, &facts, &Viewer::Person(&caller.user)))
    }

    /// Freezes the approved files (hash checked against the quarantine), writes the release
    /// record and adds released frequency tables to the project's ledger.
    async fn freeze(
        &self,
        tx: &mut WriteTx,
        row: &mut ReleaseRow,
        now: &str,
    ) -> Result<(), ServiceError> {
        let mut record_files = Vec::new();
        let mut check_records = serde_json::Map::new();
        for file in &mut row.files {
            if file.outcome.as_deref() == Some("approved") {
                // Fails closed (and rolls the vote back) if the bytes changed on disk.
                self.quarantined(&file.sha256).await?;
                file.released_sha256 = Some(file.sha256.clone());
                if let Some(spec) = self.table_spec(&file.job_id, &file.name).await? {
                    let entry = LedgerRow {
                        request_id: row.id.clone(),
                        name: file.name.clone(),
                        sha256: file.sha256.clone(),
                        spec,
                    };
                    Store::insert_ledger(tx, &row.project, &row.dataset, &entry, now).await?;
                }
            }
            if !check_records.contains_key(&file.job_id) {
                let stored = self.store.check_record(&file.job_id).await?;
                let parsed = stored
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .unwrap_or(serde_json::Value::Null);
                check_records.insert(file.job_id.clone(), parsed);
            }
            let votes: Vec<serde_json::Value> = row
                .votes
                .iter()
                .filter(|v| v.name == file.name)
                .map(|v| {
                    serde_json::json!({
                        "round": v.round, "checker": v.checker, "vote": v.vote,
                        "comment": v.comment, "at": v.created_at,
                    })
                })
                .collect();
            record_files.push(serde_json::json!({
                "name": file.name, "job": file.job_id, "variant": file.variant,
                "sha256": file.sha256, "size": file.size, "verdict": file.verdict,
                "outcome": file.outcome, "released_sha256": file.released_sha256,
                "votes": votes,
            }));
        }
        let record = serde_json::json!({
            "release_record_version": 1,
            "release": row.id,
            "project": row.project,
            "dataset": row.dataset,
            "author": row.author,
            "context": row.context,
            "justification": row.justification,
            "round": row.round,
            "released_at": now,
            "files": record_files,
            "check_records": check_records,
        });
        row.record = Some(record.to_string());
        row.released_at = Some(now.to_owned());
        Ok(())
    }

    /// The check record's entry for one output of a job.
    async fn output_record(
        &self,
        job: &str,
        file: &str,
    ) -> Result<Option<serde_json::Value>, ServiceError> {
        let Some(text) = self.store.check_record(job).await? else {
            return Ok(None);
        };
        let record: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ServiceError::Internal(format!("check record of {job}: {e}")))?;
        Ok(record
            .get("outputs")
            .and_then(|o| o.as_array())
            .and_then(|outputs| {
                outputs
                    .iter()
                    .find(|o| o.get("file").and_then(|f| f.as_str()) == Some(file))
                    .cloned()
            }))
    }

    /// The frequency-table spec of `file` from the job's manifest, as JSON; `None` for
    /// other kinds or without a manifest.
    async fn table_spec(&self, job: &str, file: &str) -> Result<Option<String>, ServiceError> {
        let outputs = self.store.outputs(job).await?;
        let Some(manifest) = outputs
            .iter()
            .find(|o| o.kind == "file" && o.name == enclave_policy::sdc::MANIFEST_FILE)
        else {
            return Ok(None);
        };
        let Ok(bytes) = self.quarantined(&manifest.sha256).await else {
            return Ok(None);
        };
        let Ok(parsed) = Manifest::parse(&bytes) else {
            return Ok(None);
        };
        let spec = parsed.outputs.iter().find_map(|o| match &o.kind {
            OutputKind::FrequencyTable(spec) if o.file == file => Some(spec),
            _ => None,
        });
        spec.map(serde_json::to_string)
            .transpose()
            .map_err(|e| ServiceError::Internal(format!("table spec: {e}")))
    }
}
