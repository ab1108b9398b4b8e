//! The SSH command language: turns an exec line into a typed [`Command`].
//! Pure parsing; no rules live here.

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help`
    Help,
    /// `whoami`
    WhoAmI,
    /// `submit --project P --name N [--dataset D] [--python] [-- ARGS...]` (module, or with
    /// `--python` a Python script, on stdin)
    Submit {
        /// Project name.
        project: String,
        /// Job name.
        name: String,
        /// Dataset, when the project has several.
        dataset: Option<String>,
        /// Arguments for the module.
        args: Vec<String>,
        /// `--module inbox/NAME`: take the module from the SFTP inbox instead of stdin.
        module: Option<String>,
        /// Standard input is a Python script for the installation's runner.
        python: bool,
    },
    /// `jobs`
    Jobs,
    /// `status <job-id>`
    Status {
        /// Job id.
        id: String,
    },
    /// `outputs <job-id>`
    Outputs {
        /// Job id.
        id: String,
    },
    /// `audit [verify | export | proof <seq> | checkpoint] [filters]` (compliance)
    Audit(AuditRequest),
    /// The release workflow (`request-release`, `requests`, `vote`, `download`, ...).
    Release(ReleaseCommand),
}

/// What `audit` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditRequest {
    /// `audit [--actor A --project P --dataset D --job J --action X --outcome O --from T --to T --after N --limit N]`
    List {
        /// Filters.
        filter: crate::store::AuditFilter,
        /// Start after this sequence number.
        after: i64,
        /// At most this many events.
        limit: i64,
    },
    /// `audit verify`
    Verify,
    /// `audit export [--format jsonl|csv] [filters]`
    Export {
        /// Filters.
        filter: crate::store::AuditFilter,
        /// `jsonl` or `csv`.
        format: String,
    },
    /// `audit proof <seq>`
    Proof {
        /// Sequence number.
        seq: i64,
    },
    /// `audit checkpoint`
    Checkpoint,
    /// `audit provenance <job-id>`
    Provenance {
        /// Job id.
        job: String,
    },
}

impl Command {
    /// The command's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::WhoAmI => "whoami",
            Command::Submit { .. } => "submit",
            Command::Jobs => "jobs",
            Command::Status { .. } => "status",
            Command::Outputs { .. } => "outputs",
            Command::Audit(_) => "audit",
            Command::Release(release) => release.name(),
        }
    }
}

/// A command line with its output format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// What to do.
    pub command: Command,
    /// Print one JSON document instead of text.
    pub json: bool,
}

/// Why a command line could not be parsed. The message is shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Longest command line accepted, in bytes.
pub const MAX_COMMAND_LEN: usize = 8192;

/// Parses one exec line.
///
/// # Errors
/// A [`ParseError`] naming what is wrong, suitable to print.
pub fn parse(line: &str) -> Result<Invocation, ParseError> {
    if line.len() > MAX_COMMAND_LEN {
        return Err(ParseError("command line too long".into()));
    }
    let words =
        shlex::split(line).ok_or_else(|| ParseError("unbalanced quotes in command line".into()))?;
    let (name, rest) = words
        .split_first()
        .ok_or_else(|| ParseError("empty command; try: help".into()))?;
    let (options, args) = match rest.iter().position(|w| w == "--") {
        Some(at) => (&rest[..at], Some(rest[at + 1..].to_vec())),
        None => (rest, None),
    };
    let mut parsed = Options::parse(options)?;
    let json = parsed.take_flag("--json");
    if args.is_some() && name != "submit" {
        return Err(ParseError(format!(
            "{name} takes no module arguments after --"
        )));
    }
    let command = match name.as_str() {
        "help" => Command::Help,
        "whoami" => Command::WhoAmI,
        "jobs" => Command::Jobs,
        "status" => Command::Status {
            id: parsed.one_positional(name, "job-id")?,
        },
        "outputs" => Command::Outputs {
            id: parsed.one_positional(name, "job-id")?,
        },
        "audit" => Command::Audit(parse_audit(&mut parsed)?),
        "submit" => {
            let project = parsed
                .take_value("--project")
                .ok_or_else(|| ParseError("submit needs --project NAME".into()))?;
            let name_value = parsed
                .take_value("--name")
                .unwrap_or_else(|| "unnamed job".into());
            let dataset = parsed.take_value("--dataset");
            let module = parsed.take_value("--module");
            if module
                .as_ref()
                .is_some_and(|path| !path.starts_with("inbox/"))
            {
                return Err(ParseError(
                    "--module takes inbox/NAME (a file uploaded with sftp)".into(),
                ));
            }
            let python = parsed.take_flag("--python");
            parsed.no_positionals(name)?;
            Command::Submit {
                project,
                name: name_value,
                dataset,
                args: args.unwrap_or_default(),
                module,
                python,
            }
        }
        other => match release::parse(other, &mut parsed) {
            Some(release) => Command::Release(release?),
            None => {
                let shown: String = other.chars().take(40).collect();
                return Err(ParseError(format!("unknown command {shown:?}; try: help")));
            }
        },
    };
    parsed.finish(name)?;
    Ok(Invocation { command, json })
}

fn parse_audit(parsed: &mut Options) -> Result<AuditRequest, ParseError> {
    let sub = if parsed.positionals.is_empty() {
        String::new()
    } else {
        parsed.positionals.remove(0)
    };
    let number = |value: Option<String>, what: &str, default: i64| -> Result<i64, ParseError> {
        value.map_or(Ok(default), |v| {
            v.parse::<i64>()
                .map_err(|_| ParseError(format!("{what} must be a number")))
        })
    };
    let mut filter = || crate::store::AuditFilter {
        actor: parsed.take_value("--actor"),
        project: parsed.take_value("--project"),
        dataset: parsed.take_value("--dataset"),
        target: parsed.take_value("--job"),
        action: parsed.take_value("--action"),
        outcome: parsed.take_value("--outcome"),
        from: parsed.take_value("--from"),
        to: parsed.take_value("--to"),
    };
    match sub.as_str() {
        "" | "list" => {
            let filter = filter();
            let after = number(parsed.take_value("--after"), "--after", 0)?;
            let limit = number(parsed.take_value("--limit"), "--limit", 100)?;
            Ok(AuditRequest::List {
                filter,
                after,
                limit,
            })
        }
        "verify" => Ok(AuditRequest::Verify),
        "export" => {
            let filter = filter();
            let format = parsed
                .take_value("--format")
                .unwrap_or_else(|| "jsonl".into());
            if format != "jsonl" && format != "csv" {
                return Err(ParseError("--format must be jsonl or csv".into()));
            }
            Ok(AuditRequest::Export { filter, format })
        }
        "proof" => {
            let seq = parsed.one_positional("audit proof", "seq")?;
            Ok(AuditRequest::Proof {
                seq: number(Some(seq), "seq", 0)?,
            })
        }
        "checkpoint" => Ok(AuditRequest::Checkpoint),
        "provenance" => Ok(AuditRequest::Provenance {
            job: parsed.one_positional("audit provenance", "job-id")?,
        }),
        other => Err(ParseError(format!(
            "unknown audit command {:?}; use audit, audit verify, audit export, audit proof <seq>, audit checkpoint or audit provenance <job-id>",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// Options and positionals of one command line.
struct Options {
    flags: Vec<String>,
    values: Vec<(String, String)>,
    positionals: Vec<String>,
}

const VALUE_OPTIONS: [&str; 17] = [
    "--module",
    "--context",
    "--justification",
    "--comment",
    "--project",
    "--name",
    "--dataset",
    "--actor",
    "--job",
    "--action",
    "--outcome",
    "--from",
    "--to",
    "--after",
    "--limit",
    "--format",
    "--checkpoint",
];
/// Options whose value is free text that may contain spaces.
const FREE_TEXT_OPTIONS: [&str; 4] = ["--name", "--context", "--justification", "--comment"];

impl Options {
    fn parse(words: &[String]) -> Result<Options, ParseError> {
        let mut options = Options {
            flags: Vec::new(),
            values: Vec::new(),
            positionals: Vec::new(),
        };
        let mut iter = words.iter();
        while let Some(word) = iter.next() {
            if let Some((key, value)) = word.split_once('=').filter(|(k, _)| k.starts_with("--")) {
                options.values.push((key.to_owned(), value.to_owned()));
            } else if VALUE_OPTIONS.contains(&word.as_str()) {
                let value = iter
                    .next()
                    .ok_or_else(|| ParseError(format!("{word} needs a value")))?;
                let mut value = value.clone();
                if FREE_TEXT_OPTIONS.contains(&word.as_str()) {
                    // `ssh host submit --name "HbA1c by age"` arrives unquoted (ssh joins
                    // its arguments with spaces), so free text runs to the next option.
                    while let Some(next) = iter.as_slice().first().filter(|w| !w.starts_with("--"))
                    {
                        value.push(' ');
                        value.push_str(next);
                        iter.next();
                    }
                }
                options.values.push((word.clone(), value));
            } else if word.starts_with("--") {
                options.flags.push(word.clone());
            } else {
                options.positionals.push(word.clone());
            }
        }
        Ok(options)
    }

    fn take_flag(&mut self, flag: &str) -> bool {
        let before = self.flags.len();
        self.flags.retain(|f| f != flag);
        self.flags.len() != before
    }

    fn take_value(&mut self, key: &str) -> Option<String> {
        let at = self.values.iter().position(|(k, _)| k == key)?;
        Some(self.values.remove(at).1)
    }

    fn one_positional(&mut self, command: &str, what: &str) -> Result<String, ParseError> {
        if self.positionals.len() != 1 {
            return Err(ParseError(format!("usage: {command} <{what}>")));
        }
        Ok(self.positionals.remove(0))
    }

    fn no_positionals(&self, command: &str) -> Result<(), ParseError> {
        match self.positionals.first() {
            Some(extra) => Err(ParseError(format!(
                "{command}: unexpected argument {extra:?} (module arguments go after --)"
            ))),
            None => Ok(()),
        }
    }

    fn finish(self, command: &str) -> Result<(), ParseError> {
        if let Some(flag) = self.flags.first() {
            return Err(ParseError(format!("{command}: unknown option {flag}")));
        }
        if let Some((key, _)) = self.values.first() {
            return Err(ParseError(format!(
                "{command}: unknown or repeated option {key}"
            )));
        }
        if let Some(extra) = self.positionals.first() {
            return Err(ParseError(format!(
                "{command}: unexpected argument {extra:?}"
            )));
        }
        Ok(())
    }
}

mod release;
#[cfg(test)]
mod tests;

pub use release::ReleaseCommand;
