//! The researcher's side: request, list, look, withdraw, resubmit, download.

use enclave_policy::release::{ReleaseRequest, ReleaseState, RequestedFile, authorize_release};
use enclave_policy::sdc::Verdict;
use enclave_policy::{JobFacts, Scope};

use super::views::{Viewer, view};
use super::{
    Opened, ReleaseSubmission, ReleaseView, Resubmission, check_text, facts_of, new_release_id,
    parse_verdict,
};
use crate::audit::Outcome;
use crate::service::{Caller, Service, ServiceError, detail, event};
use crate::store::{JobRow, ReleaseFileRow, ReleaseRow, Store};

impl Service {
    /// Creates a release request; returns its id.
    ///
    /// # Errors
    /// `Invalid` for missing context, unknown files or duplicates; `NotFound` for an
    /// unknown job; `Conflict` for an unfinished job; `Forbidden` when policy refuses.
    #[tracing::instrument(skip_all)]
    pub async fn request_release(
        &self,
        caller: &Caller,
        submission: ReleaseSubmission,
    ) -> Result<String, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "release.request", Outcome::Ok);
        record.target = submission.job.chars().take(64).collect();
        let job_id = record.target.clone();
        detail(&mut record, "job", job_id);
        detail(&mut record, "files", submission.files.clone());
        detail(&mut record, "suggested", submission.suggested);
        if let Err(message) = validate_texts(
            Some(&submission.context),
            submission.justification.as_deref(),
        ) {
            return Err(self.invalid(record, message).await);
        }
        let Some(job) = self.store.job(&submission.job).await? else {
            let shown = record.target.clone();
            return Err(self
                .invalid_as(
                    record,
                    ServiceError::NotFound(format!("no such job: {shown}")),
                )
                .await);
        };
        record.project.clone_from(&job.project);
        record.dataset.clone_from(&job.dataset);
        let project = self.project_facts(&job.project).await?;
        let job_facts = JobFacts {
            submitter: job.submitter.clone(),
            project: project.clone(),
        };
        // Membership first, so non-members learn nothing about the job's files.
        let probe = ReleaseRequest::Create {
            job: &job_facts,
            files: &[],
            justified: true,
        };
        if let enclave_policy::Decision::Deny(reason) =
            authorize_release(&actor, &probe, self.now().date())
            && reason != enclave_policy::DenyReason::NothingRequested
        {
            self.decide(&mut record, enclave_policy::Decision::Deny(reason))
                .await?;
        }
        let (files, evidence) = match self
            .pick_files(&job, &submission.files, submission.suggested, 1)
            .await
        {
            Ok(picked) => picked,
            Err(message) => return Err(self.invalid(record, message).await),
        };
        let requested = requested(&files, &evidence);
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Create {
                job: &job_facts,
                files: &requested,
                justified: submission.justification.is_some(),
            },
            self.now().date(),
        );
        self.decide(&mut record, decision).await?;
        let now = self.now_text()?;
        let release = ReleaseRow {
            id: new_release_id(),
            project: job.project.clone(),
            dataset: job.dataset.clone(),
            author: caller.user.clone(),
            state: ReleaseState::Submitted.as_str().to_owned(),
            round: 1,
            context: submission.context.trim().to_owned(),
            justification: submission.justification.map(|j| j.trim().to_owned()),
            created_at: now.clone(),
            updated_at: now,
            released_at: None,
            record: None,
            files,
            votes: Vec::new(),
        };
        record.target.clone_from(&release.id);
        detail(&mut record, "file_hashes", hashes(&release.files));
        detail(&mut record, "state", release.state.clone());
        let mut tx = self.store.begin_write().await?;
        Store::insert_release(&mut tx, &release).await?;
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        Ok(release.id)
    }

    /// Release requests the caller may see: their projects' (researchers) or all
    /// (compliance, administrators). Newest first.
    ///
    /// # Errors
    /// `Forbidden` when policy refuses.
    pub async fn releases(&self, caller: &Caller) -> Result<Vec<ReleaseView>, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "release.list", Outcome::Ok);
        let decision = authorize_release(&actor, &ReleaseRequest::List, self.now().date());
        let authorized = self.decide(&mut record, decision).await?;
        let rows = match authorized.scope() {
            Scope::All => self.store.releases(None, None).await?,
            Scope::Own => {
                let projects = self.store.projects_of(&caller.user).await?;
                self.store.releases(Some(&projects), None).await?
            }
        };
        let viewer = if authorized.scope() == Scope::All {
            Viewer::Overseer
        } else {
            Viewer::Person(&caller.user)
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let facts = self.release_facts(row).await?;
            out.push(view(row, &facts, &viewer));
        }
        detail(&mut record, "count", out.len());
        self.record(record).await?;
        Ok(out)
    }

    /// One request, if policy lets the caller see it.
    ///
    /// # Errors
    /// `NotFound` for an unknown id, `Forbidden` when policy refuses.
    pub async fn release_request(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ReleaseView, ServiceError> {
        let Opened {
            actor,
            mut record,
            row,
            facts,
        } = self.open_release(caller, "release.view", id, None).await?;
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::View { release: &facts },
            self.now().date(),
        );
        let authorized = self.decide(&mut record, decision).await?;
        self.record(record).await?;
        let viewer = if authorized.scope() == Scope::All
            && authorized.role() != Some(enclave_policy::Role::Checker)
        {
            Viewer::Overseer
        } else {
            Viewer::Person(&caller.user)
        };
        Ok(view(&row, &facts, &viewer))
    }

    /// Withdraws a request.
    ///
    /// # Errors
    /// `Forbidden` unless the caller wrote it; `Conflict` once it is closed.
    pub async fn withdraw_release(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let Opened {
            actor,
            mut record,
            row: _,
            facts,
        } = self
            .open_release(caller, "release.withdraw", id, None)
            .await?;
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Withdraw { release: &facts },
            self.now().date(),
        );
        self.decide(&mut record, decision).await?;
        let mut tx = self.store.begin_write().await?;
        let Some(mut row) = Store::release_for_update(&mut tx, id).await? else {
            return Err(ServiceError::Internal(format!("release {id} vanished")));
        };
        // Re-decide on the locked row: a vote may have landed in between.
        let facts = facts_of(&row, facts.project.clone(), facts.approvals_required);
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Withdraw { release: &facts },
            self.now().date(),
        );
        if let enclave_policy::Decision::Deny(_) = decision {
            drop(tx);
            self.decide(&mut record, decision).await?;
            return Err(ServiceError::Conflict(format!("release {id} changed")));
        }
        detail(&mut record, "from", row.state.clone());
        row.state = ReleaseState::Withdrawn.as_str().to_owned();
        row.updated_at = self.now_text()?;
        Store::update_release(&mut tx, &row).await?;
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resubmits a returned request, optionally with a new context and a new job's files.
    /// A file whose bytes changed, or that was not approved, starts a new round of votes.
    ///
    /// # Errors
    /// `Forbidden` unless the caller wrote it; `Conflict` unless it was returned;
    /// `Invalid` for a new job lacking a requested file.
    pub async fn resubmit_release(
        &self,
        caller: &Caller,
        id: &str,
        change: Resubmission,
    ) -> Result<(), ServiceError> {
        let Opened {
            actor,
            mut record,
            row,
            facts,
        } = self
            .open_release(caller, "release.resubmit", id, None)
            .await?;
        if let Err(message) =
            validate_texts(change.context.as_deref(), change.justification.as_deref())
        {
            return Err(self.invalid(record, message).await);
        }
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Resubmit { release: &facts },
            self.now().date(),
        );
        self.decide(&mut record, decision).await?;
        let round = row.round + 1;
        let mut files = row.files.clone();
        let mut evidence = Vec::new();
        if let Some(job_id) = &change.job {
            detail(&mut record, "job", job_id.clone());
            let job = match self.store.job(job_id).await? {
                Some(job) if job.project == row.project && job.dataset == row.dataset => job,
                _ => {
                    let message = format!(
                        "job {} is not a job of project {} on dataset {}",
                        job_id.chars().take(64).collect::<String>(),
                        row.project,
                        row.dataset
                    );
                    return Err(self.invalid(record, message).await);
                }
            };
            let names: Vec<String> = row.files.iter().map(|f| f.name.clone()).collect();
            let suggested = row.files.iter().any(|f| f.variant == "suggested");
            (files, evidence) = match self.pick_files(&job, &names, suggested, round).await {
                Ok(picked) => picked,
                Err(message) => return Err(self.invalid(record, message).await),
            };
        }
        let decided = |name: &str| facts_outcome_approved(&facts, name);
        let mut reset = Vec::new();
        for (file, old) in files.iter_mut().zip(&row.files) {
            if file.sha256 == old.sha256 && decided(&file.name) {
                file.round = old.round;
                file.outcome = old.outcome.clone();
            } else {
                file.round = round;
                file.outcome = None;
                reset.push(file.name.clone());
            }
        }
        let justification = change.justification.or(row.justification.clone());
        let job = self
            .store
            .job(&files[0].job_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("release file names a missing job".into()))?;
        let recheck = ReleaseRequest::Create {
            job: &JobFacts {
                submitter: job.submitter,
                project: facts.project.clone(),
            },
            files: &requested(&files, &evidence),
            justified: justification.is_some(),
        };
        let decision = authorize_release(&actor, &recheck, self.now().date());
        self.decide(&mut record, decision).await?;
        let mut tx = self.store.begin_write().await?;
        let Some(mut current) = Store::release_for_update(&mut tx, id).await? else {
            return Err(ServiceError::Internal(format!("release {id} vanished")));
        };
        if current.state != ReleaseState::Returned.as_str() || current.round != row.round {
            drop(tx);
            return Err(self
                .invalid_as(
                    record,
                    ServiceError::Conflict(format!("release {id} changed; look again")),
                )
                .await);
        }
        for file in &files {
            Store::put_release_file(&mut tx, id, file).await?;
        }
        current.round = round;
        current.state = ReleaseState::Submitted.as_str().to_owned();
        if let Some(context) = change.context {
            current.context = context.trim().to_owned();
        }
        current.justification = justification;
        current.updated_at = self.now_text()?;
        Store::update_release(&mut tx, &current).await?;
        detail(&mut record, "round", round);
        detail(&mut record, "reset_votes", reset);
        detail(&mut record, "file_hashes", hashes(&files));
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The frozen bytes of a released file.
    ///
    /// # Errors
    /// `Forbidden` before release, for files not released, or when policy refuses.
    pub async fn download(
        &self,
        caller: &Caller,
        id: &str,
        file: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        let Opened {
            actor,
            mut record,
            row,
            facts,
        } = self
            .open_release(caller, "release.download", id, Some(file))
            .await?;
        let decision = authorize_release(
            &actor,
            &ReleaseRequest::Download {
                release: &facts,
                file,
            },
            self.now().date(),
        );
        self.decide(&mut record, decision).await?;
        let frozen = row
            .files
            .iter()
            .find(|f| f.name == file)
            .and_then(|f| f.released_sha256.clone());
        let Some(sha256) = frozen else {
            let message = format!("{file} is not released");
            return Err(self
                .invalid_as(record, ServiceError::Forbidden(message))
                .await);
        };
        let bytes = match self.quarantined(&sha256).await {
            Ok(bytes) => bytes,
            Err(error) => {
                record.outcome = Outcome::Error;
                detail(&mut record, "reason", "frozen bytes unreadable or changed");
                return Err(self.refuse(record, error).await);
            }
        };
        detail(&mut record, "sha256", sha256);
        detail(&mut record, "size", bytes.len());
        self.record(record).await?;
        Ok(bytes)
    }

    /// Released files the caller may download: `(request id, file, size)`. For the SFTP
    /// tree; each actual read goes through [`Service::download`].
    ///
    /// # Errors
    /// When the store fails.
    pub async fn downloadable(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(String, String, i64)>, ServiceError> {
        let actor = self.actor(caller).await?;
        let projects = self.store.projects_of(&caller.user).await?;
        let released = [ReleaseState::Released.as_str()];
        let rows = self
            .store
            .releases(Some(&projects), Some(&released))
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let facts = self.release_facts(row).await?;
            for file in &row.files {
                let request = ReleaseRequest::Download {
                    release: &facts,
                    file: &file.name,
                };
                if let enclave_policy::Decision::Allow(_) =
                    authorize_release(&actor, &request, self.now().date())
                {
                    out.push((row.id.clone(), file.name.clone(), file.size));
                }
            }
        }
        Ok(out)
    }

    /// The files `names` of `job`, as they would enter a request in `round`.
    async fn pick_files(
        &self,
        job: &JobRow,
        names: &[String],
        suggested: bool,
        round: i64,
    ) -> Result<(Vec<ReleaseFileRow>, Vec<String>), String> {
        if !matches!(job.state.as_str(), "succeeded" | "failed") {
            return Err(format!("job {} has not finished ({})", job.id, job.state));
        }
        let outputs = self
            .store
            .outputs(&job.id)
            .await
            .map_err(|e| format!("cannot read outputs: {e}"))?;
        let checks = self
            .store
            .output_checks(&job.id)
            .await
            .map_err(|e| format!("cannot read checks: {e}"))?;
        let mut files: Vec<ReleaseFileRow> = Vec::with_capacity(names.len());
        let mut evidence = Vec::new();
        for name in names {
            if files.iter().any(|f| &f.name == name) {
                return Err(format!("{name} is named twice"));
            }
            let Some(output) = outputs.iter().find(|o| o.kind == "file" && &o.name == name) else {
                return Err(format!("{name} is not an output file of job {}", job.id));
            };
            let check = checks.iter().find(|c| c.kind == "file" && &c.name == name);
            let mut row = ReleaseFileRow {
                name: name.clone(),
                job_id: job.id.clone(),
                variant: "original".into(),
                sha256: output.sha256.clone(),
                size: output.size,
                verdict: check.and_then(|c| c.verdict.clone()),
                round,
                outcome: None,
                released_sha256: None,
            };
            if check.is_some_and(|c| c.never_release) {
                evidence.push(name.clone());
            }
            if suggested {
                let Some(sha) = check.and_then(|c| c.suggested_sha256.clone()) else {
                    return Err(format!("{name} has no suggested safe version"));
                };
                let size = tokio::fs::metadata(self.paths.quarantine.join(&sha))
                    .await
                    .map_err(|_| format!("the suggested version of {name} is missing"))?
                    .len();
                row.variant = "suggested".into();
                row.sha256 = sha;
                row.size = i64::try_from(size).unwrap_or(i64::MAX);
                // The suggested version is built to pass; a person still confirms it.
                row.verdict = Some("review".into());
            }
            files.push(row);
        }
        Ok((files, evidence))
    }

    /// Records an invalid request and returns `Invalid(message)`.
    pub(super) async fn invalid(
        &self,
        record: crate::audit::NewEvent,
        message: String,
    ) -> ServiceError {
        self.invalid_as(record, ServiceError::Invalid(message))
            .await
    }

    /// Records a request refused for bad input (outcome `error`) and returns `error`.
    pub(super) async fn invalid_as(
        &self,
        mut record: crate::audit::NewEvent,
        error: ServiceError,
    ) -> ServiceError {
        record.outcome = Outcome::Error;
        detail(&mut record, "reason", error.to_string());
        self.refuse(record, error).await
    }
}

fn facts_outcome_approved(facts: &enclave_policy::release::ReleaseFacts, name: &str) -> bool {
    use enclave_policy::release::{FileOutcome, file_outcome};
    facts
        .files
        .iter()
        .find(|f| f.name == name)
        .is_some_and(|f| file_outcome(f, facts.approvals_required) == FileOutcome::Approved)
}

/// The files as policy sees them; an unchecked output counts as failed.
fn requested(files: &[ReleaseFileRow], evidence: &[String]) -> Vec<RequestedFile> {
    files
        .iter()
        .map(|f| RequestedFile {
            name: f.name.clone(),
            verdict: Some(parse_verdict(f.verdict.as_deref()).unwrap_or(Verdict::Fail)),
            never_release: evidence.contains(&f.name),
        })
        .collect()
}

fn hashes(files: &[ReleaseFileRow]) -> serde_json::Value {
    files
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name, "sha256": f.sha256, "variant": f.variant,
                "verdict": f.verdict, "round": f.round,
            })
        })
        .collect()
}

fn validate_texts(context: Option<&str>, justification: Option<&str>) -> Result<(), String> {
    if let Some(context) = context {
        if context.trim().is_empty() {
            return Err(
                "--context is required: what the files show, the population, and how they \
                 relate to earlier outputs"
                    .into(),
            );
        }
        check_text("context", context)?;
    }
    if let Some(justification) = justification {
        if justification.trim().is_empty() {
            return Err("--justification is empty".into());
        }
        check_text("justification", justification)?;
    }
    Ok(())
}
