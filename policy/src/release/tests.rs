use expect_test::{Expect, expect};
use proptest::prelude::*;
use time::macros::date;

use super::*;
use crate::roles::RoleSet;

const TODAY: Date = date!(2026 - 06 - 01);

fn study() -> ProjectFacts {
    ProjectFacts {
        name: "study".into(),
        members: vec!["alice".into(), "ann".into(), "multi".into()],
        expires_on: date!(2026 - 12 - 31),
        active: true,
    }
}

fn actor(user: &str, roles: &[Role]) -> Actor {
    Actor {
        user: user.into(),
        roles: RoleSet::of(roles),
        disabled: false,
    }
}

fn vote(checker: &str, vote: Vote) -> VoteFacts {
    VoteFacts {
        checker: checker.into(),
        vote,
    }
}

fn release(state: ReleaseState, votes: Vec<VoteFacts>) -> ReleaseFacts {
    ReleaseFacts {
        id: "rel-1".into(),
        author: "alice".into(),
        project: study(),
        state,
        approvals_required: 2,
        files: vec![
            FileFacts {
                name: "table.csv".into(),
                verdict: Some(Verdict::Pass),
                votes,
            },
            FileFacts {
                name: "risky.csv".into(),
                verdict: Some(Verdict::Fail),
                votes: Vec::new(),
            },
        ],
    }
}

fn show(decision: Decision) -> String {
    match decision {
        Decision::Allow(authorized) => {
            let role = authorized.role().map_or("-", Role::as_str);
            let scope = match authorized.scope() {
                Scope::Own => "own",
                Scope::All => "all",
            };
            format!("allow({role},{scope})")
        }
        Decision::Deny(reason) => format!("deny: {reason}"),
    }
}

fn actors() -> Vec<Actor> {
    vec![
        actor("alice", &[Role::Researcher]),
        actor("ann", &[Role::Researcher]),
        actor("bob", &[Role::Researcher]),
        actor("carol", &[Role::Checker]),
        actor("multi", &[Role::Researcher, Role::Checker]),
        actor("boss", &[Role::Checker, Role::Admin]),
        actor("erin", &[Role::Compliance]),
        actor("root", &[Role::Admin]),
        actor("nobody", &[]),
        Actor {
            disabled: true,
            ..actor("dave", &[Role::Checker])
        },
    ]
}

/// Every actor × every request, for a request in `state`.
fn check(state: ReleaseState, expected: Expect) {
    let facts = release(state, vec![vote("dave", Vote::Approve)]);
    let job = JobFacts {
        submitter: "alice".into(),
        project: study(),
    };
    let passing = [RequestedFile {
        name: "table.csv".into(),
        verdict: Some(Verdict::Pass),
        never_release: false,
    }];
    let failing = [RequestedFile {
        name: "risky.csv".into(),
        verdict: Some(Verdict::Fail),
        never_release: false,
    }];
    let evidence = [RequestedFile {
        name: "cost.evidence.csv".into(),
        verdict: Some(Verdict::Fail),
        never_release: true,
    }];
    let requests: Vec<(&str, ReleaseRequest<'_>)> = vec![
        (
            "create pass",
            ReleaseRequest::Create {
                job: &job,
                files: &passing,
                justified: false,
            },
        ),
        (
            "create fail",
            ReleaseRequest::Create {
                job: &job,
                files: &failing,
                justified: false,
            },
        ),
        (
            "create fail+why",
            ReleaseRequest::Create {
                job: &job,
                files: &failing,
                justified: true,
            },
        ),
        (
            "create evidence",
            ReleaseRequest::Create {
                job: &job,
                files: &evidence,
                justified: true,
            },
        ),
        ("list", ReleaseRequest::List),
        ("view", ReleaseRequest::View { release: &facts }),
        ("withdraw", ReleaseRequest::Withdraw { release: &facts }),
        ("resubmit", ReleaseRequest::Resubmit { release: &facts }),
        ("queue", ReleaseRequest::ReviewQueue),
        ("review", ReleaseRequest::Review { release: &facts }),
        (
            "approve pass",
            ReleaseRequest::Vote {
                release: &facts,
                file: "table.csv",
                vote: Vote::Approve,
                commented: false,
            },
        ),
        (
            "approve fail",
            ReleaseRequest::Vote {
                release: &facts,
                file: "risky.csv",
                vote: Vote::Approve,
                commented: false,
            },
        ),
        (
            "approve fail+c",
            ReleaseRequest::Vote {
                release: &facts,
                file: "risky.csv",
                vote: Vote::Approve,
                commented: true,
            },
        ),
        (
            "reject pass+c",
            ReleaseRequest::Vote {
                release: &facts,
                file: "table.csv",
                vote: Vote::Reject,
                commented: true,
            },
        ),
        (
            "vote unknown",
            ReleaseRequest::Vote {
                release: &facts,
                file: "nope.csv",
                vote: Vote::Approve,
                commented: true,
            },
        ),
        (
            "download",
            ReleaseRequest::Download {
                release: &facts,
                file: "table.csv",
            },
        ),
    ];
    let mut out = String::new();
    for actor in &actors() {
        out.push_str(&format!(
            "{}[{}]{}\n",
            actor.user,
            actor.roles,
            if actor.disabled { " disabled" } else { "" }
        ));
        for (name, request) in &requests {
            let line = show(authorize_release(actor, request, TODAY));
            out.push_str(&format!("  {name:<16} {line}\n"));
        }
    }
    expected.assert_eq(&out);
}

#[test]
fn every_role_times_every_request_while_partially_reviewed() {
    check(
        ReleaseState::PartiallyReviewed,
        expect![[r#"
        alice[researcher]
          create pass      allow(researcher,own)
          create fail      deny: risky.csv failed the automated checks: give --justification explaining why it is safe
          create fail+why  allow(researcher,own)
          create evidence  deny: cost.evidence.csv is checker evidence and is never released
          list             allow(researcher,own)
          view             allow(researcher,own)
          withdraw         allow(researcher,own)
          resubmit         deny: cannot resubmit a request that is partially_reviewed
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: table.csv is not released
        ann[researcher]
          create pass      allow(researcher,own)
          create fail      deny: risky.csv failed the automated checks: give --justification explaining why it is safe
          create fail+why  allow(researcher,own)
          create evidence  deny: cost.evidence.csv is checker evidence and is never released
          list             allow(researcher,own)
          view             allow(researcher,own)
          withdraw         deny: only the request's author may do this
          resubmit         deny: only the request's author may do this
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: table.csv is not released
        bob[researcher]
          create pass      deny: not a member of project study
          create fail      deny: not a member of project study
          create fail+why  deny: not a member of project study
          create evidence  deny: not a member of project study
          list             allow(researcher,own)
          view             deny: not a member of project study
          withdraw         deny: only the request's author may do this
          resubmit         deny: only the request's author may do this
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: not a member of project study
        carol[checker]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             deny: requires role researcher or compliance or admin
          view             allow(checker,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            allow(checker,all)
          review           allow(checker,all)
          approve pass     allow(checker,all)
          approve fail     deny: a comment is required to vote approve on a file whose automated verdict is fail (--comment)
          approve fail+c   allow(checker,all)
          reject pass+c    allow(checker,all)
          vote unknown     deny: nope.csv is not in this request
          download         deny: requires role researcher
        multi[researcher,checker]
          create pass      allow(researcher,own)
          create fail      deny: risky.csv failed the automated checks: give --justification explaining why it is safe
          create fail+why  allow(researcher,own)
          create evidence  deny: cost.evidence.csv is checker evidence and is never released
          list             allow(researcher,own)
          view             allow(researcher,own)
          withdraw         deny: only the request's author may do this
          resubmit         deny: only the request's author may do this
          queue            allow(checker,all)
          review           deny: you may not review requests from project study, of which you are a member
          approve pass     deny: you may not review requests from project study, of which you are a member
          approve fail     deny: you may not review requests from project study, of which you are a member
          approve fail+c   deny: you may not review requests from project study, of which you are a member
          reject pass+c    deny: you may not review requests from project study, of which you are a member
          vote unknown     deny: you may not review requests from project study, of which you are a member
          download         deny: table.csv is not released
        boss[checker,admin]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             allow(admin,all)
          view             allow(admin,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: administrators may not review or vote on releases
          review           deny: administrators may not review or vote on releases
          approve pass     deny: administrators may not review or vote on releases
          approve fail     deny: administrators may not review or vote on releases
          approve fail+c   deny: administrators may not review or vote on releases
          reject pass+c    deny: administrators may not review or vote on releases
          vote unknown     deny: administrators may not review or vote on releases
          download         deny: requires role researcher
        erin[compliance]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             allow(compliance,all)
          view             allow(compliance,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: requires role researcher
        root[admin]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             allow(admin,all)
          view             allow(admin,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: requires role researcher
        nobody[none]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             deny: requires role researcher or compliance or admin
          view             deny: requires role researcher or checker or compliance or admin
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: requires role researcher
        dave[checker] disabled
          create pass      deny: account is disabled
          create fail      deny: account is disabled
          create fail+why  deny: account is disabled
          create evidence  deny: account is disabled
          list             deny: account is disabled
          view             deny: account is disabled
          withdraw         deny: account is disabled
          resubmit         deny: account is disabled
          queue            deny: account is disabled
          review           deny: account is disabled
          approve pass     deny: account is disabled
          approve fail     deny: account is disabled
          approve fail+c   deny: account is disabled
          reject pass+c    deny: account is disabled
          vote unknown     deny: account is disabled
          download         deny: account is disabled
    "#]],
    );
}

#[test]
fn every_role_times_every_request_once_released() {
    check(
        ReleaseState::Released,
        expect![[r#"
        alice[researcher]
          create pass      allow(researcher,own)
          create fail      deny: risky.csv failed the automated checks: give --justification explaining why it is safe
          create fail+why  allow(researcher,own)
          create evidence  deny: cost.evidence.csv is checker evidence and is never released
          list             allow(researcher,own)
          view             allow(researcher,own)
          withdraw         deny: cannot withdraw a request that is released
          resubmit         deny: cannot resubmit a request that is released
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: table.csv is not released
        ann[researcher]
          create pass      allow(researcher,own)
          create fail      deny: risky.csv failed the automated checks: give --justification explaining why it is safe
          create fail+why  allow(researcher,own)
          create evidence  deny: cost.evidence.csv is checker evidence and is never released
          list             allow(researcher,own)
          view             allow(researcher,own)
          withdraw         deny: only the request's author may do this
          resubmit         deny: only the request's author may do this
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: table.csv is not released
        bob[researcher]
          create pass      deny: not a member of project study
          create fail      deny: not a member of project study
          create fail+why  deny: not a member of project study
          create evidence  deny: not a member of project study
          list             allow(researcher,own)
          view             deny: not a member of project study
          withdraw         deny: only the request's author may do this
          resubmit         deny: only the request's author may do this
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: not a member of project study
        carol[checker]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             deny: requires role researcher or compliance or admin
          view             allow(checker,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            allow(checker,all)
          review           allow(checker,all)
          approve pass     deny: cannot vote on a request that is released
          approve fail     deny: cannot vote on a request that is released
          approve fail+c   deny: cannot vote on a request that is released
          reject pass+c    deny: cannot vote on a request that is released
          vote unknown     deny: cannot vote on a request that is released
          download         deny: requires role researcher
        multi[researcher,checker]
          create pass      allow(researcher,own)
          create fail      deny: risky.csv failed the automated checks: give --justification explaining why it is safe
          create fail+why  allow(researcher,own)
          create evidence  deny: cost.evidence.csv is checker evidence and is never released
          list             allow(researcher,own)
          view             allow(researcher,own)
          withdraw         deny: only the request's author may do this
          resubmit         deny: only the request's author may do this
          queue            allow(checker,all)
          review           deny: you may not review requests from project study, of which you are a member
          approve pass     deny: you may not review requests from project study, of which you are a member
          approve fail     deny: you may not review requests from project study, of which you are a member
          approve fail+c   deny: you may not review requests from project study, of which you are a member
          reject pass+c    deny: you may not review requests from project study, of which you are a member
          vote unknown     deny: you may not review requests from project study, of which you are a member
          download         deny: table.csv is not released
        boss[checker,admin]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             allow(admin,all)
          view             allow(admin,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: administrators may not review or vote on releases
          review           deny: administrators may not review or vote on releases
          approve pass     deny: administrators may not review or vote on releases
          approve fail     deny: administrators may not review or vote on releases
          approve fail+c   deny: administrators may not review or vote on releases
          reject pass+c    deny: administrators may not review or vote on releases
          vote unknown     deny: administrators may not review or vote on releases
          download         deny: requires role researcher
        erin[compliance]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             allow(compliance,all)
          view             allow(compliance,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: requires role researcher
        root[admin]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             allow(admin,all)
          view             allow(admin,all)
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: requires role researcher
        nobody[none]
          create pass      deny: requires role researcher
          create fail      deny: requires role researcher
          create fail+why  deny: requires role researcher
          create evidence  deny: requires role researcher
          list             deny: requires role researcher or compliance or admin
          view             deny: requires role researcher or checker or compliance or admin
          withdraw         deny: requires role researcher
          resubmit         deny: requires role researcher
          queue            deny: requires role checker
          review           deny: requires role checker
          approve pass     deny: requires role checker
          approve fail     deny: requires role checker
          approve fail+c   deny: requires role checker
          reject pass+c    deny: requires role checker
          vote unknown     deny: requires role checker
          download         deny: requires role researcher
        dave[checker] disabled
          create pass      deny: account is disabled
          create fail      deny: account is disabled
          create fail+why  deny: account is disabled
          create evidence  deny: account is disabled
          list             deny: account is disabled
          view             deny: account is disabled
          withdraw         deny: account is disabled
          resubmit         deny: account is disabled
          queue            deny: account is disabled
          review           deny: account is disabled
          approve pass     deny: account is disabled
          approve fail     deny: account is disabled
          approve fail+c   deny: account is disabled
          reject pass+c    deny: account is disabled
          vote unknown     deny: account is disabled
          download         deny: account is disabled
    "#]],
    );
}

/// Every state's answer to the state-dependent requests of the author and an eligible
/// checker.
#[test]
fn every_state_times_state_dependent_requests() {
    let alice = actor("alice", &[Role::Researcher]);
    let carol = actor("carol", &[Role::Checker]);
    let mut out = String::new();
    for state in ReleaseState::ALL {
        let facts = release(state, Vec::new());
        let lines = [
            (
                "withdraw",
                authorize_release(&alice, &ReleaseRequest::Withdraw { release: &facts }, TODAY),
            ),
            (
                "resubmit",
                authorize_release(&alice, &ReleaseRequest::Resubmit { release: &facts }, TODAY),
            ),
            (
                "vote",
                authorize_release(
                    &carol,
                    &ReleaseRequest::Vote {
                        release: &facts,
                        file: "table.csv",
                        vote: Vote::Approve,
                        commented: false,
                    },
                    TODAY,
                ),
            ),
            (
                "download",
                authorize_release(
                    &alice,
                    &ReleaseRequest::Download {
                        release: &facts,
                        file: "table.csv",
                    },
                    TODAY,
                ),
            ),
        ];
        out.push_str(&format!("{state}\n"));
        for (name, decision) in lines {
            out.push_str(&format!("  {name:<9} {}\n", show(decision)));
        }
    }
    expect![[r#"
        submitted
          withdraw  allow(researcher,own)
          resubmit  deny: cannot resubmit a request that is submitted
          vote      allow(checker,all)
          download  deny: table.csv is not released
        partially_reviewed
          withdraw  allow(researcher,own)
          resubmit  deny: cannot resubmit a request that is partially_reviewed
          vote      allow(checker,all)
          download  deny: table.csv is not released
        reviewed
          withdraw  allow(researcher,own)
          resubmit  deny: cannot resubmit a request that is reviewed
          vote      allow(checker,all)
          download  deny: table.csv is not released
        released
          withdraw  deny: cannot withdraw a request that is released
          resubmit  deny: cannot resubmit a request that is released
          vote      deny: cannot vote on a request that is released
          download  deny: table.csv is not released
        returned
          withdraw  allow(researcher,own)
          resubmit  allow(researcher,own)
          vote      deny: cannot vote on a request that is returned
          download  deny: table.csv is not released
        withdrawn
          withdraw  deny: cannot withdraw a request that is withdrawn
          resubmit  deny: cannot resubmit a request that is withdrawn
          vote      deny: cannot vote on a request that is withdrawn
          download  deny: table.csv is not released
        rejected
          withdraw  deny: cannot withdraw a request that is rejected
          resubmit  deny: cannot resubmit a request that is rejected
          vote      deny: cannot vote on a request that is rejected
          download  deny: table.csv is not released
    "#]]
    .assert_eq(&out);
}

#[test]
fn outcomes_at_the_edges() {
    use Vote::{Approve as A, Changes as C, Reject as R};
    let cases: &[(&[(&str, Vote)], u8)] = &[
        (&[], 2),
        (&[("c1", A)], 2),
        (&[("c1", A), ("c1", A)], 2),
        (&[("c1", A), ("c2", A)], 2),
        (&[("c1", A), ("c2", R)], 2),
        (&[("c1", A), ("c2", R), ("c3", A)], 2),
        (&[("c1", A), ("c2", R), ("c3", R)], 2),
        (&[("c1", C), ("c2", R)], 2),
        (&[("c1", R), ("c2", R)], 2),
        (&[("c1", A)], 1),
        (&[("c1", R)], 1),
        (&[("c1", A), ("c2", A)], 3),
    ];
    let mut out = String::new();
    for (votes, required) in cases {
        let file = FileFacts {
            name: "f".into(),
            verdict: Some(Verdict::Pass),
            votes: votes.iter().map(|(c, v)| vote(c, *v)).collect(),
        };
        let shown: Vec<String> = votes
            .iter()
            .map(|(c, v)| format!("{c}:{}", v.as_str()))
            .collect();
        out.push_str(&format!(
            "need {required} [{}] -> {:?}\n",
            shown.join(" "),
            file_outcome(&file, *required)
        ));
    }
    expect![[r#"
        need 2 [] -> Pending
        need 2 [c1:approve] -> Pending
        need 2 [c1:approve c1:approve] -> Pending
        need 2 [c1:approve c2:approve] -> Approved
        need 2 [c1:approve c2:reject] -> Pending
        need 2 [c1:approve c2:reject c3:approve] -> Approved
        need 2 [c1:approve c2:reject c3:reject] -> Rejected
        need 2 [c1:changes c2:reject] -> Changes
        need 2 [c1:reject c2:reject] -> Rejected
        need 1 [c1:approve] -> Approved
        need 1 [c1:reject] -> Rejected
        need 3 [c1:approve c2:approve] -> Pending
    "#]]
    .assert_eq(&out);
}

#[test]
fn pseudonymized_data_never_needs_fewer_than_two_approvals() {
    assert_eq!(approvals_required(DataClass::Pseudonymized, 0), 2);
    assert_eq!(approvals_required(DataClass::Pseudonymized, 1), 2);
    assert_eq!(approvals_required(DataClass::Pseudonymized, 3), 3);
    assert_eq!(approvals_required(DataClass::Anonymized, 0), 1);
    assert_eq!(approvals_required(DataClass::Anonymized, 1), 1);
}

#[test]
fn states_round_trip_through_their_names() {
    for state in ReleaseState::ALL {
        assert_eq!(state.as_str().parse::<ReleaseState>(), Ok(state));
    }
    assert!("open".parse::<ReleaseState>().is_err());
    assert!("maybe".parse::<Vote>().is_err());
}

fn any_vote() -> impl Strategy<Value = Vote> {
    prop_oneof![Just(Vote::Approve), Just(Vote::Changes), Just(Vote::Reject)]
}

proptest! {
    /// Random votes by random people, applied only when policy allows them: a file is
    /// downloadable only with the required distinct approvals from eligible checkers.
    #[test]
    fn nothing_is_downloadable_without_enough_distinct_eligible_approvals(
        steps in proptest::collection::vec((0usize..10, 0usize..2, any_vote(), any::<bool>()), 0..40),
        required in 0u8..4,
        class in prop_oneof![Just(DataClass::Pseudonymized), Just(DataClass::Anonymized)],
    ) {
        let people = actors();
        let mut facts = release(ReleaseState::Submitted, Vec::new());
        facts.approvals_required = approvals_required(class, required);
        for (who, file_index, choice, commented) in steps {
            let actor = &people[who];
            let file = facts.files[file_index].name.clone();
            let request = ReleaseRequest::Vote {
                release: &facts,
                file: &file,
                vote: choice,
                commented,
            };
            if let Decision::Allow(_) = authorize_release(actor, &request, TODAY) {
                facts.files[file_index].votes.push(vote(&actor.user, choice));
                facts.state = settle(&facts);
            }
        }
        let alice = actor("alice", &[Role::Researcher]);
        for file in &facts.files {
            let request = ReleaseRequest::Download { release: &facts, file: &file.name };
            if let Decision::Allow(_) = authorize_release(&alice, &request, TODAY) {
                let mut approvers: Vec<&str> = file
                    .votes
                    .iter()
                    .filter(|v| v.vote == Vote::Approve)
                    .map(|v| v.checker.as_str())
                    .collect();
                approvers.sort_unstable();
                approvers.dedup();
                prop_assert!(approvers.len() >= 2 || class == DataClass::Anonymized);
                prop_assert!(approvers.len() >= usize::from(facts.approvals_required));
                for approver in approvers {
                    let person = people.iter().find(|p| p.user == approver).unwrap();
                    prop_assert!(person.roles.contains(Role::Checker));
                    prop_assert!(!person.roles.contains(Role::Admin));
                    prop_assert!(!person.disabled);
                    prop_assert!(!facts.project.has_member(approver));
                    prop_assert!(approver != facts.author);
                }
            }
        }
    }
}
