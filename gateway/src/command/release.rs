//! The release commands of the SSH command language.

use super::{Options, ParseError};

/// A release-workflow command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseCommand {
    /// `request-release <job-id> <file>... --context TEXT [--justification TEXT] [--suggested]`
    Request {
        /// Job id.
        job: String,
        /// Files.
        files: Vec<String>,
        /// Context (required).
        context: String,
        /// Justification for failed files.
        justification: Option<String>,
        /// Ask for the suggested safe versions.
        suggested: bool,
    },
    /// `requests`
    List,
    /// `request <id>`
    Show {
        /// Request id.
        id: String,
    },
    /// `withdraw <id>`
    Withdraw {
        /// Request id.
        id: String,
    },
    /// `resubmit <id> [--context TEXT] [--justification TEXT] [--job JOB]`
    Resubmit {
        /// Request id.
        id: String,
        /// New context.
        context: Option<String>,
        /// New justification.
        justification: Option<String>,
        /// New job.
        job: Option<String>,
    },
    /// `download <id> <file>`
    Download {
        /// Request id.
        id: String,
        /// File.
        file: String,
    },
    /// `review-queue`
    Queue,
    /// `review <id>`
    Review {
        /// Request id.
        id: String,
    },
    /// `review-cat <id> <file>`
    Cat {
        /// Request id.
        id: String,
        /// File.
        file: String,
    },
    /// `vote <id> <file> approve|changes|reject [--comment TEXT]`
    Vote {
        /// Request id.
        id: String,
        /// File.
        file: String,
        /// Vote.
        vote: String,
        /// Comment (may be empty).
        comment: String,
    },
}

impl ReleaseCommand {
    /// The command's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            ReleaseCommand::Request { .. } => "request-release",
            ReleaseCommand::List => "requests",
            ReleaseCommand::Show { .. } => "request",
            ReleaseCommand::Withdraw { .. } => "withdraw",
            ReleaseCommand::Resubmit { .. } => "resubmit",
            ReleaseCommand::Download { .. } => "download",
            ReleaseCommand::Queue => "review-queue",
            ReleaseCommand::Review { .. } => "review",
            ReleaseCommand::Cat { .. } => "review-cat",
            ReleaseCommand::Vote { .. } => "vote",
        }
    }
}

/// Parses a release command; `None` when `name` is not one.
pub(super) fn parse(
    name: &str,
    parsed: &mut Options,
) -> Option<Result<ReleaseCommand, ParseError>> {
    let command = match name {
        "request-release" => request(parsed),
        "requests" => Ok(ReleaseCommand::List),
        "request" => parsed
            .one_positional(name, "request-id")
            .map(|id| ReleaseCommand::Show { id }),
        "withdraw" => parsed
            .one_positional(name, "request-id")
            .map(|id| ReleaseCommand::Withdraw { id }),
        "resubmit" => {
            parsed
                .one_positional(name, "request-id")
                .map(|id| ReleaseCommand::Resubmit {
                    id,
                    context: parsed.take_value("--context"),
                    justification: parsed.take_value("--justification"),
                    job: parsed.take_value("--job"),
                })
        }
        "download" => {
            two(parsed, name, "file").map(|(id, file)| ReleaseCommand::Download { id, file })
        }
        "review-queue" => Ok(ReleaseCommand::Queue),
        "review" => parsed
            .one_positional(name, "request-id")
            .map(|id| ReleaseCommand::Review { id }),
        "review-cat" => {
            two(parsed, name, "file").map(|(id, file)| ReleaseCommand::Cat { id, file })
        }
        "vote" => vote(parsed),
        _ => return None,
    };
    Some(command)
}

fn request(parsed: &mut Options) -> Result<ReleaseCommand, ParseError> {
    let usage = "usage: request-release <job-id> <file>... --context TEXT \
                 [--justification TEXT] [--suggested]";
    if parsed.positionals.len() < 2 {
        return Err(ParseError(usage.into()));
    }
    let job = parsed.positionals.remove(0);
    let files = std::mem::take(&mut parsed.positionals);
    let context = parsed.take_value("--context").ok_or_else(|| {
        ParseError(
            "request-release needs --context: what the files show, the population, and how \
             they relate to earlier outputs"
                .into(),
        )
    })?;
    Ok(ReleaseCommand::Request {
        job,
        files,
        context,
        justification: parsed.take_value("--justification"),
        suggested: parsed.take_flag("--suggested"),
    })
}

fn vote(parsed: &mut Options) -> Result<ReleaseCommand, ParseError> {
    if parsed.positionals.len() != 3 {
        return Err(ParseError(
            "usage: vote <request-id> <file> approve|changes|reject [--comment TEXT]".into(),
        ));
    }
    let mut words = std::mem::take(&mut parsed.positionals).into_iter();
    let (id, file, vote) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    if !matches!(vote.as_str(), "approve" | "changes" | "reject") {
        return Err(ParseError(format!(
            "vote must be approve, changes or reject, not {:?}",
            vote.chars().take(40).collect::<String>()
        )));
    }
    Ok(ReleaseCommand::Vote {
        id,
        file,
        vote,
        comment: parsed.take_value("--comment").unwrap_or_default(),
    })
}

fn two(parsed: &mut Options, name: &str, what: &str) -> Result<(String, String), ParseError> {
    if parsed.positionals.len() != 2 {
        return Err(ParseError(format!("usage: {name} <request-id> <{what}>")));
    }
    let second = parsed.positionals.remove(1);
    Ok((parsed.positionals.remove(0), second))
}
