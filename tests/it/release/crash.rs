//! A crash while checkers vote: after `kill -9` and a restart every request is either not
//! yet released (no release event, nothing downloadable) or released and audited with its
//! frozen bytes; every vote a checker saw acknowledged is in the trail; the trail verifies.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{TABLE, ok, release_job, request, request_json};
use crate::support::{Server, Stdin, text};

#[test]
fn a_crash_between_votes_and_release_leaves_every_request_consistent() {
    let mut server = Server::setup_only();
    server.serve();
    let job = release_job(&server, TABLE);
    let ids: Vec<String> = (0..16)
        .map(|_| request(&server, &job, &["table.csv"], &[]))
        .collect();
    let stop = AtomicBool::new(false);
    let count = AtomicUsize::new(0);
    let acknowledged: Vec<(String, &str)> = std::thread::scope(|scope| {
        let clients: Vec<_> = [("carol", false), ("dave", false)]
            .into_iter()
            .map(|(checker, reverse)| {
                let (server, ids, stop, count) = (&server, &ids, &stop, &count);
                scope.spawn(move || {
                    let mut order: Vec<&String> = ids.iter().collect();
                    if reverse {
                        order.reverse();
                    }
                    let mut seen = Vec::new();
                    for id in order {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let out =
                            server.ssh(checker, &["vote", id, "table.csv", "approve"], Stdin::Null);
                        if out.status.success() {
                            seen.push((id.clone(), checker));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    seen
                })
            })
            .collect();
        // Crash in the middle of the voting: after a few acknowledged votes (bounded wait).
        for _ in 0..600 {
            if count.load(Ordering::SeqCst) >= 6 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pid = server.pid().expect("running");
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        stop.store(true, Ordering::SeqCst);
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client"))
            .collect()
    });
    server.kill();
    server.serve();
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    let events = server.audit_events();
    for (id, checker) in &acknowledged {
        assert!(
            events.iter().any(|e| e["action"] == "release.vote"
                && e["outcome"] == "ok"
                && e["target"] == id.as_str()
                && e["actor"] == *checker),
            "acknowledged vote of {checker} on {id} is missing from the trail"
        );
    }
    let mut released = 0;
    for id in &ids {
        let view = request_json(&server, "erin", id);
        let votes = view["votes"].as_array().unwrap().len();
        let vote_events = events
            .iter()
            .filter(|e| {
                e["action"] == "release.vote" && e["outcome"] == "ok" && e["target"] == id.as_str()
            })
            .count();
        assert_eq!(
            votes, vote_events,
            "{id}: stored votes and their events differ"
        );
        let release_events = events
            .iter()
            .filter(|e| e["action"] == "release.release" && e["target"] == id.as_str())
            .count();
        let download = server.ssh("alice", &["download", id, "table.csv"], Stdin::Null);
        if view["state"] == "released" {
            released += 1;
            assert_eq!(release_events, 1, "{id}: released without its event");
            assert_eq!(votes, 2);
            assert_eq!(text(&download.stdout), TABLE);
        } else {
            assert_eq!(
                release_events, 0,
                "{id}: an event for a release that did not happen"
            );
            assert!(votes < 2, "{id}: two approvals but {}", view["state"]);
            assert!(!download.status.success());
            // The workflow carries on after the restart.
            for checker in ["carol", "dave"] {
                if !view["votes"].to_string().contains(checker) {
                    ok(&server, checker, &["vote", id, "table.csv", "approve"]);
                }
            }
            assert_eq!(request_json(&server, "alice", id)["state"], "released");
        }
    }
    eprintln!(
        "{} votes acknowledged before the crash, {released} of {} requests released",
        acknowledged.len(),
        ids.len()
    );
}
