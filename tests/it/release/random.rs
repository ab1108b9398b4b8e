//! A random walk of release actions by random people (seeded; set ENCLAVE_TEST_SEED to
//! explore): after every step no file is downloadable without the required approvals from
//! distinct eligible checkers, and every action left at least one audit event.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{RISKY, release_job, request, request_json};
use crate::support::{Server, Stdin, text};

const PEOPLE: [&str; 8] = [
    "alice", "gina", "bob", "carol", "dave", "frank", "root", "erin",
];
/// Who may ever count as an approver of a diabetes-study request.
const ELIGIBLE: [&str; 3] = ["carol", "dave", "frank"];
const FILES: [&str; 2] = ["table.csv", "risky.csv"];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        usize::try_from((z ^ (z >> 31)) % n as u64).unwrap_or(0)
    }
}

fn event_count(server: &Server) -> usize {
    server.audit_events().len()
}

/// Asserts the invariant for one request: whatever alice can download has enough
/// distinct eligible approvals in the round that counts.
fn check_downloads(server: &Server, id: &str) {
    let view = request_json(server, "erin", id);
    for file in FILES {
        let Some(stored) = view["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == file)
        else {
            continue;
        };
        let got = server.ssh("alice", &["download", id, file], Stdin::Null);
        if !got.status.success() {
            continue;
        }
        let approvers: BTreeSet<&str> = view["votes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["file"] == file && v["vote"] == "approve")
            .filter(|v| v["round"] == stored["round"])
            .filter_map(|v| v["checker"].as_str())
            .collect();
        let required = usize::try_from(view["approvals_required"].as_u64().unwrap()).unwrap();
        assert!(required >= 2, "pseudonymized data needs two approvals");
        assert!(
            approvers.len() >= required,
            "{id}/{file} downloadable with approvers {approvers:?}: {view}"
        );
        assert!(
            approvers.iter().all(|a| ELIGIBLE.contains(a)),
            "{approvers:?}"
        );
        assert_eq!(
            stored["released_sha256"].as_str(),
            Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&got.stdout)).as_str())
        );
    }
}

#[test]
fn random_actions_never_release_without_two_eligible_approvals() {
    let seed: u64 = std::env::var("ENCLAVE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_121);
    eprintln!("random release walk, ENCLAVE_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let server = Server::demo();
    let job = release_job(&server, RISKY);
    let mut requests = vec![request(
        &server,
        &job,
        &FILES,
        &["--justification", "margins are published elsewhere"],
    )];
    for step in 0..40 {
        let before = event_count(&server);
        let person = PEOPLE[rng.below(PEOPLE.len())];
        let id = requests[rng.below(requests.len())].clone();
        let file = FILES[rng.below(FILES.len())];
        let votes = ["approve", "changes", "reject"];
        let vote = votes[rng.below(votes.len())];
        let args: Vec<String> = match rng.below(10) {
            0..=5 => {
                let mut args = vec!["vote".into(), id.clone(), file.into(), vote.into()];
                if rng.below(3) > 0 {
                    args.extend(["--comment".into(), format!("step {step}")]);
                }
                args
            }
            6 => vec!["withdraw".into(), id.clone()],
            7 => vec!["resubmit".into(), id.clone()],
            8 => vec!["download".into(), id.clone(), file.into()],
            _ => {
                let new = server.ssh(
                    person,
                    &[
                        "request-release",
                        &job,
                        file,
                        "--context",
                        "random walk",
                        "--justification",
                        "checked",
                    ],
                    Stdin::Null,
                );
                if new.status.success() {
                    requests.push(text(&new.stdout).trim().to_owned());
                }
                assert!(
                    event_count(&server) > before,
                    "step {step}: request not audited"
                );
                continue;
            }
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = server.ssh(person, &refs, Stdin::Null);
        assert!(
            output
                .status
                .code()
                .is_some_and(|c| c == 0 || (2..=5).contains(&c)),
            "step {step}: {person} {args:?} crashed: {}",
            text(&output.stderr)
        );
        assert!(
            event_count(&server) > before,
            "step {step}: {person} {args:?} left no audit event"
        );
        check_downloads(&server, &id);
    }
    for id in &requests {
        check_downloads(&server, id);
        let view: Value = request_json(&server, "erin", id);
        assert!(view["state"].is_string());
    }
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}
