use super::*;

fn event(action: &str) -> NewEvent {
    NewEvent {
        actor: "alice".into(),
        role: "researcher".into(),
        door: Door::Ssh,
        source: "127.0.0.1:5000".into(),
        action: action.into(),
        target: "j1".into(),
        project: "study".into(),
        dataset: "claims".into(),
        session: "s-1".into(),
        request_id: "r-1".into(),
        outcome: Outcome::Ok,
        details: serde_json::json!({"n": 1}),
    }
}

fn chain(n: usize) -> Vec<StoredEvent> {
    let mut out: Vec<StoredEvent> = Vec::new();
    for i in 0..n {
        let (seq, hash) = out
            .last()
            .map_or((0, GENESIS_HASH.to_owned()), |e| (e.seq, e.hash.clone()));
        out.push(seal(
            &event(&format!("a{i}")),
            seq,
            &hash,
            format!("2026-01-01T00:00:{i:02}.000000Z"),
        ));
    }
    out
}

fn verify(events: &[StoredEvent]) -> Result<i64, VerifyError> {
    let mut verifier = Verifier::default();
    for e in events {
        verifier.push(e)?;
    }
    Ok(verifier.count())
}

#[test]
fn a_sealed_chain_verifies() {
    assert_eq!(verify(&chain(5)), Ok(5));
    assert_eq!(verify(&[]), Ok(0));
}

#[test]
fn altering_any_field_is_detected_at_that_event() {
    let alterations: Vec<fn(&mut StoredEvent)> = vec![
        |e| e.actor = "mallory".into(),
        |e| e.role = "admin".into(),
        |e| e.door = "https".into(),
        |e| e.source = "-".into(),
        |e| e.action = "x".into(),
        |e| e.target = "j2".into(),
        |e| e.project = "other".into(),
        |e| e.dataset = "other".into(),
        |e| e.session = "s-2".into(),
        |e| e.request_id = "r-2".into(),
        |e| e.outcome = "denied".into(),
        |e| e.details = "{}".into(),
        |e| e.time = "2026-01-01T00:00:02.500000Z".into(),
    ];
    for alter in alterations {
        let mut events = chain(5);
        alter(&mut events[2]);
        assert_eq!(verify(&events), Err(VerifyError::Altered { seq: 3 }));
    }
}

#[test]
fn deletion_reordering_and_relinking_are_detected() {
    let mut deleted = chain(5);
    deleted.remove(1);
    assert_eq!(verify(&deleted).map_err(|e| e.seq()), Err(2));

    let mut swapped = chain(5);
    swapped.swap(1, 2);
    assert_eq!(verify(&swapped).map_err(|e| e.seq()), Err(2));

    // Rewriting one event and recomputing its own hash still breaks the next link.
    let mut rehashed = chain(5);
    rehashed[2].actor = "mallory".into();
    rehashed[2].hash = event_hash(&rehashed[2]);
    assert_eq!(verify(&rehashed), Err(VerifyError::BrokenLink { seq: 4 }));
}

#[test]
fn time_going_backwards_is_detected() {
    let mut events = chain(3);
    events[2].time = "2025-12-31T23:59:59.000000Z".into();
    events[2].hash = event_hash(&events[2]);
    assert_eq!(verify(&events), Err(VerifyError::TimeReversed { seq: 3 }));
}
