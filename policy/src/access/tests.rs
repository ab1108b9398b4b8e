use expect_test::{Expect, expect};
use proptest::prelude::*;
use time::macros::date;

use super::*;

const TODAY: Date = date!(2026 - 06 - 01);

fn project(name: &str, members: &[&str], expires_on: Date, active: bool) -> ProjectFacts {
    ProjectFacts {
        name: name.into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        expires_on,
        active,
    }
}

fn actor(user: &str, roles: &[Role]) -> Actor {
    Actor {
        user: user.into(),
        roles: RoleSet::of(roles),
        disabled: false,
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

/// Renders the decision for every actor × every request, one line each.
fn check(today: Date, expected: Expect) {
    let study = project(
        "study",
        &["alice", "ann", "multi"],
        date!(2026 - 12 - 31),
        true,
    );
    let expired = project("old", &["alice"], date!(2026 - 05 - 31), true);
    let suspended = project("paused", &["alice"], date!(2027 - 01 - 01), false);
    let alice_job = JobFacts {
        submitter: "alice".into(),
        project: study.clone(),
    };
    let other_job = JobFacts {
        submitter: "zed".into(),
        project: project("elsewhere", &["zed"], date!(2027 - 01 - 01), true),
    };
    let actors = [
        actor("alice", &[Role::Researcher]),
        actor("bob", &[Role::Researcher]),
        actor("carol", &[Role::Checker]),
        actor("erin", &[Role::Compliance]),
        actor("root", &[Role::Admin]),
        actor("multi", &[Role::Researcher, Role::Checker]),
        actor("ann", &[Role::Admin]),
        actor("nobody", &[]),
        Actor {
            disabled: true,
            ..actor("alice", &[Role::Researcher])
        },
    ];
    let requests: Vec<(&str, Request<'_>)> = vec![
        ("help", Request::Help),
        ("whoami", Request::WhoAmI),
        ("submit study", Request::SubmitJob { project: &study }),
        ("submit old", Request::SubmitJob { project: &expired }),
        (
            "submit paused",
            Request::SubmitJob {
                project: &suspended,
            },
        ),
        ("jobs", Request::ListJobs),
        ("status alice-job", Request::ViewJob { job: &alice_job }),
        ("status other-job", Request::ViewJob { job: &other_job }),
        (
            "outputs alice-job",
            Request::ViewOutputs { job: &alice_job },
        ),
        (
            "outputs other-job",
            Request::ViewOutputs { job: &other_job },
        ),
        ("admin", Request::Administer),
        ("tokens", Request::ManageTokens),
        ("audit-verify", Request::VerifyAudit),
        ("audit-read", Request::ReadAudit),
        ("inbox", Request::UseInbox),
        (
            "rules study tight",
            Request::SetOutputRules {
                project: &study,
                change: RulesChange::Tightens,
            },
        ),
        (
            "rules old tight",
            Request::SetOutputRules {
                project: &expired,
                change: RulesChange::Tightens,
            },
        ),
        (
            "rules study loose",
            Request::SetOutputRules {
                project: &study,
                change: RulesChange::Loosens,
            },
        ),
        (
            "rules study loose!",
            Request::SetOutputRules {
                project: &study,
                change: RulesChange::LoosensConfirmed,
            },
        ),
    ];
    let mut out = String::new();
    for actor in &actors {
        let label = format!(
            "{}[{}]{}",
            actor.user,
            actor.roles,
            if actor.disabled { " disabled" } else { "" }
        );
        out.push_str(&label);
        out.push('\n');
        for (name, request) in &requests {
            let line = show(authorize(actor, request, today));
            out.push_str(&format!("  {name:<18} {line}\n"));
        }
    }
    expected.assert_eq(&out);
}

#[test]
fn every_role_times_every_request() {
    check(
        TODAY,
        expect![[r#"
            alice[researcher]
              help               allow(researcher,own)
              whoami             allow(researcher,own)
              submit study       allow(researcher,own)
              submit old         deny: project old expired on 2026-05-31
              submit paused      deny: project paused is not active
              jobs               allow(researcher,own)
              status alice-job   allow(researcher,own)
              status other-job   deny: not a member of project elsewhere
              outputs alice-job  allow(researcher,own)
              outputs other-job  deny: not a member of project elsewhere
              admin              deny: requires role admin
              tokens             deny: requires role admin
              audit-verify       deny: requires role compliance or admin
              audit-read         deny: requires role compliance or admin
              inbox              allow(researcher,own)
              rules study tight  allow(researcher,own)
              rules old tight    deny: project old expired on 2026-05-31
              rules study loose  deny: requires role admin
              rules study loose! deny: requires role admin
            bob[researcher]
              help               allow(researcher,own)
              whoami             allow(researcher,own)
              submit study       deny: not a member of project study
              submit old         deny: not a member of project old
              submit paused      deny: not a member of project paused
              jobs               allow(researcher,own)
              status alice-job   deny: not a member of project study
              status other-job   deny: not a member of project elsewhere
              outputs alice-job  deny: not a member of project study
              outputs other-job  deny: not a member of project elsewhere
              admin              deny: requires role admin
              tokens             deny: requires role admin
              audit-verify       deny: requires role compliance or admin
              audit-read         deny: requires role compliance or admin
              inbox              allow(researcher,own)
              rules study tight  deny: not a member of project study
              rules old tight    deny: not a member of project old
              rules study loose  deny: requires role admin
              rules study loose! deny: requires role admin
            carol[checker]
              help               allow(checker,own)
              whoami             allow(checker,own)
              submit study       deny: requires role researcher
              submit old         deny: requires role researcher
              submit paused      deny: requires role researcher
              jobs               deny: requires role researcher or compliance or admin
              status alice-job   deny: requires role researcher or compliance or admin
              status other-job   deny: requires role researcher or compliance or admin
              outputs alice-job  deny: requires role researcher or compliance or admin
              outputs other-job  deny: requires role researcher or compliance or admin
              admin              deny: requires role admin
              tokens             deny: requires role admin
              audit-verify       deny: requires role compliance or admin
              audit-read         deny: requires role compliance or admin
              inbox              deny: requires role researcher
              rules study tight  deny: requires role admin or researcher
              rules old tight    deny: requires role admin or researcher
              rules study loose  deny: requires role admin
              rules study loose! deny: requires role admin
            erin[compliance]
              help               allow(compliance,own)
              whoami             allow(compliance,own)
              submit study       deny: requires role researcher
              submit old         deny: requires role researcher
              submit paused      deny: requires role researcher
              jobs               allow(compliance,all)
              status alice-job   allow(compliance,all)
              status other-job   allow(compliance,all)
              outputs alice-job  allow(compliance,all)
              outputs other-job  allow(compliance,all)
              admin              deny: requires role admin
              tokens             deny: requires role admin
              audit-verify       allow(compliance,all)
              audit-read         allow(compliance,all)
              inbox              deny: requires role researcher
              rules study tight  deny: requires role admin or researcher
              rules old tight    deny: requires role admin or researcher
              rules study loose  deny: requires role admin
              rules study loose! deny: requires role admin
            root[admin]
              help               allow(admin,own)
              whoami             allow(admin,own)
              submit study       deny: requires role researcher
              submit old         deny: requires role researcher
              submit paused      deny: requires role researcher
              jobs               allow(admin,all)
              status alice-job   allow(admin,all)
              status other-job   allow(admin,all)
              outputs alice-job  allow(admin,all)
              outputs other-job  allow(admin,all)
              admin              allow(admin,all)
              tokens             allow(admin,all)
              audit-verify       allow(admin,all)
              audit-read         allow(admin,all)
              inbox              deny: requires role researcher
              rules study tight  allow(admin,all)
              rules old tight    allow(admin,all)
              rules study loose  deny: the rule set loosens project study's preset and the loosening was not confirmed
              rules study loose! allow(admin,all)
            multi[researcher,checker]
              help               allow(researcher,own)
              whoami             allow(researcher,own)
              submit study       allow(researcher,own)
              submit old         deny: not a member of project old
              submit paused      deny: not a member of project paused
              jobs               allow(researcher,own)
              status alice-job   allow(researcher,own)
              status other-job   deny: not a member of project elsewhere
              outputs alice-job  allow(researcher,own)
              outputs other-job  deny: not a member of project elsewhere
              admin              deny: requires role admin
              tokens             deny: requires role admin
              audit-verify       deny: requires role compliance or admin
              audit-read         deny: requires role compliance or admin
              inbox              allow(researcher,own)
              rules study tight  allow(researcher,own)
              rules old tight    deny: not a member of project old
              rules study loose  deny: requires role admin
              rules study loose! deny: requires role admin
            ann[admin]
              help               allow(admin,own)
              whoami             allow(admin,own)
              submit study       deny: requires role researcher
              submit old         deny: requires role researcher
              submit paused      deny: requires role researcher
              jobs               allow(admin,all)
              status alice-job   allow(admin,all)
              status other-job   allow(admin,all)
              outputs alice-job  allow(admin,all)
              outputs other-job  allow(admin,all)
              admin              allow(admin,all)
              tokens             allow(admin,all)
              audit-verify       allow(admin,all)
              audit-read         allow(admin,all)
              inbox              deny: requires role researcher
              rules study tight  allow(admin,all)
              rules old tight    allow(admin,all)
              rules study loose  deny: may not loosen the rules of project study: a member of it
              rules study loose! deny: may not loosen the rules of project study: a member of it
            nobody[none]
              help               allow(-,own)
              whoami             allow(-,own)
              submit study       deny: requires role researcher
              submit old         deny: requires role researcher
              submit paused      deny: requires role researcher
              jobs               deny: requires role researcher or compliance or admin
              status alice-job   deny: requires role researcher or compliance or admin
              status other-job   deny: requires role researcher or compliance or admin
              outputs alice-job  deny: requires role researcher or compliance or admin
              outputs other-job  deny: requires role researcher or compliance or admin
              admin              deny: requires role admin
              tokens             deny: requires role admin
              audit-verify       deny: requires role compliance or admin
              audit-read         deny: requires role compliance or admin
              inbox              deny: requires role researcher
              rules study tight  deny: requires role admin or researcher
              rules old tight    deny: requires role admin or researcher
              rules study loose  deny: requires role admin
              rules study loose! deny: requires role admin
            alice[researcher] disabled
              help               deny: account is disabled
              whoami             deny: account is disabled
              submit study       deny: account is disabled
              submit old         deny: account is disabled
              submit paused      deny: account is disabled
              jobs               deny: account is disabled
              status alice-job   deny: account is disabled
              status other-job   deny: account is disabled
              outputs alice-job  deny: account is disabled
              outputs other-job  deny: account is disabled
              admin              deny: account is disabled
              tokens             deny: account is disabled
              audit-verify       deny: account is disabled
              audit-read         deny: account is disabled
              inbox              deny: account is disabled
              rules study tight  deny: account is disabled
              rules old tight    deny: account is disabled
              rules study loose  deny: account is disabled
              rules study loose! deny: account is disabled
        "#]],
    );
}

#[test]
fn project_is_valid_through_its_expiry_day() {
    let p = project("p", &["alice"], date!(2026 - 06 - 01), true);
    let alice = actor("alice", &[Role::Researcher]);
    let request = Request::SubmitJob { project: &p };
    assert!(matches!(
        authorize(&alice, &request, date!(2026 - 06 - 01)),
        Decision::Allow(_)
    ));
    assert_eq!(
        authorize(&alice, &request, date!(2026 - 06 - 02))
            .into_result()
            .err(),
        Some(DenyReason::ProjectExpired {
            project: "p".into(),
            expired_on: date!(2026 - 06 - 01)
        })
    );
}

fn any_roles() -> impl Strategy<Value = RoleSet> {
    (0u8..16).prop_map(|bits| {
        RoleSet::of(
            &Role::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, role)| role)
                .collect::<Vec<_>>(),
        )
    })
}

proptest! {
    #[test]
    fn a_disabled_user_is_always_denied(roles in any_roles(), member in any::<bool>()) {
        let members: &[&str] = if member { &["u"] } else { &[] };
        let p = project("p", members, date!(2030 - 01 - 01), true);
        let job = JobFacts { submitter: "u".into(), project: p.clone() };
        let actor = Actor { user: "u".into(), roles, disabled: true };
        for request in [Request::Help, Request::WhoAmI, Request::SubmitJob { project: &p },
                        Request::ListJobs, Request::ViewJob { job: &job }, Request::Administer,
                        Request::VerifyAudit, Request::ReadAudit,
                        Request::SetOutputRules { project: &p, change: RulesChange::Tightens },
                        Request::SetOutputRules { project: &p, change: RulesChange::LoosensConfirmed }] {
            prop_assert_eq!(authorize(&actor, &request, TODAY).into_result().err(),
                            Some(DenyReason::UserDisabled));
        }
    }

    #[test]
    fn submission_needs_researcher_membership_and_a_valid_project(
        roles in any_roles(), member in any::<bool>(), active in any::<bool>(),
        days_left in -5i64..5,
    ) {
        let members: &[&str] = if member { &["u"] } else { &[] };
        let expires_on = TODAY.checked_add(time::Duration::days(days_left)).unwrap_or(TODAY);
        let p = project("p", members, expires_on, active);
        let actor = Actor { user: "u".into(), roles, disabled: false };
        let allowed = matches!(authorize(&actor, &Request::SubmitJob { project: &p }, TODAY),
                               Decision::Allow(_));
        let expected = roles.contains(Role::Researcher) && member && active && days_left >= 0;
        prop_assert_eq!(allowed, expected);
    }
}

proptest! {
    /// Loosening needs an administrator who is not in the project and who confirmed it;
    /// tightening never needs more than loosening does.
    #[test]
    fn loosening_needs_a_confirming_outside_admin(
        roles in any_roles(), member in any::<bool>(), active in any::<bool>(),
        days_left in -5i64..5,
    ) {
        let members: &[&str] = if member { &["u"] } else { &[] };
        let expires_on = TODAY.checked_add(time::Duration::days(days_left)).unwrap_or(TODAY);
        let p = project("p", members, expires_on, active);
        let actor = Actor { user: "u".into(), roles, disabled: false };
        let allowed = |change| matches!(
            authorize(&actor, &Request::SetOutputRules { project: &p, change }, TODAY),
            Decision::Allow(_));
        let admin = roles.contains(Role::Admin);
        prop_assert!(!allowed(RulesChange::Loosens));
        prop_assert_eq!(allowed(RulesChange::LoosensConfirmed), admin && !member);
        let researcher_may_work = roles.contains(Role::Researcher) && member && active
            && days_left >= 0;
        prop_assert_eq!(allowed(RulesChange::Tightens), admin || researcher_may_work);
        prop_assert!(!allowed(RulesChange::LoosensConfirmed) || allowed(RulesChange::Tightens));
    }
}
