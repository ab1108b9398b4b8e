//! The release commands over SSH: thin calls into the service core.

use crate::command::ReleaseCommand;
use crate::render;
use crate::render::release as show;
use crate::service::{Caller, ReleaseSubmission, Resubmission, Service, ServiceError};

/// Runs one release command; returns (exit status, stdout, stderr).
pub(super) async fn run_release(
    service: &Service,
    caller: &Caller,
    command: ReleaseCommand,
    json: bool,
) -> (u32, Vec<u8>, Vec<u8>) {
    let result: Result<Vec<u8>, ServiceError> = match command {
        ReleaseCommand::Request {
            job,
            files,
            context,
            justification,
            suggested,
        } => service
            .request_release(
                caller,
                ReleaseSubmission {
                    job,
                    files,
                    context,
                    justification,
                    suggested,
                },
            )
            .await
            .map(|id| show::created(&id, json)),
        ReleaseCommand::List => service
            .releases(caller)
            .await
            .map(|list| show::list(&list, json)),
        ReleaseCommand::Show { id } => service
            .release_request(caller, &id)
            .await
            .map(|view| show::request(&view, json)),
        ReleaseCommand::Withdraw { id } => service
            .withdraw_release(caller, &id)
            .await
            .map(|()| show::changed(&id, "withdrawn", json)),
        ReleaseCommand::Resubmit {
            id,
            context,
            justification,
            job,
        } => service
            .resubmit_release(
                caller,
                &id,
                Resubmission {
                    context,
                    justification,
                    job,
                },
            )
            .await
            .map(|()| show::changed(&id, "submitted", json)),
        ReleaseCommand::Download { id, file } => service.download(caller, &id, &file).await,
        ReleaseCommand::Queue => service
            .review_queue(caller)
            .await
            .map(|list| show::list(&list, json)),
        ReleaseCommand::Review { id } => service
            .review(caller, &id)
            .await
            .map(|view| show::review(&view, json)),
        ReleaseCommand::Cat { id, file } => service.review_cat(caller, &id, &file).await,
        ReleaseCommand::Vote {
            id,
            file,
            vote,
            comment,
        } => match vote.parse() {
            Ok(vote) => service
                .vote(caller, &id, &file, vote, &comment)
                .await
                .map(|view| show::request(&view, json)),
            Err(message) => Err(ServiceError::Invalid(message)),
        },
    };
    match result {
        Ok(stdout) => (0, stdout, Vec::new()),
        Err(error) => {
            let (code, message) = render::error(&error, &caller.request_id);
            (code, Vec::new(), message.into_bytes())
        }
    }
}
