use std::sync::Arc;

use super::*;
use crate::matcher::parse_matchers;
use crate::persist::MemoryStore;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn sil(m: &str, start: &str, end: &str) -> Silence {
    Silence {
        id: String::new(),
        matchers: Matchers(parse_matchers(m).unwrap()),
        starts_at: at(start),
        ends_at: at(end),
        updated_at: at(start),
        created_by: "ops".into(),
        comment: "maintenance".into(),
        schedule: None,
    }
}

fn labels(p: &[(&str, &str)]) -> crate::alert::LabelMap {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn store() -> (Arc<MemoryStore>, Silences) {
    let mem = Arc::new(MemoryStore::new());
    let s = Silences::load(mem.clone(), DEFAULT_RETENTION)
        .await
        .unwrap();
    (mem, s)
}

const NOW: &str = "2024-03-03T12:00:00Z";

#[tokio::test]
async fn validation_texts() {
    let (_, s) = store().await;
    let now = at(NOW);
    let err = |r: Result<String, SilenceError>| r.unwrap_err().to_string();
    let mut none = sil("a=1", NOW, "2024-03-03T13:00:00Z");
    none.matchers = Matchers(Vec::new());
    assert_eq!(
        err(s.post(none, now).await),
        "silence invalid: at least one matcher required"
    );
    assert_eq!(
        err(s
            .post(sil("a=\"\",b=~\".*\"", NOW, "2024-03-03T13:00:00Z"), now)
            .await),
        "silence invalid: at least one matcher must not match the empty string"
    );
    // `!=` never matches the empty string by Alertmanager's rule.
    assert!(s
        .post(sil("a!=\"\"", NOW, "2024-03-03T13:00:00Z"), now)
        .await
        .is_ok());
    let mut bad_name = sil("a=1", NOW, "2024-03-03T13:00:00Z");
    bad_name.matchers = Matchers(vec![Matcher::new(MatchType::Equal, "1a", "x").unwrap()]);
    assert_eq!(
        err(s.post(bad_name, now).await),
        "silence invalid: invalid label matcher 0: invalid label name \"1a\""
    );
    assert_eq!(
        err(s
            .post(
                sil("a=1", "2024-03-03T13:00:00Z", "2024-03-03T13:00:00Z"),
                now
            )
            .await),
        "Failed to create silence: start time must be before end time"
    );
    assert_eq!(
        err(s
            .post(
                sil("a=1", "2024-03-03T10:00:00Z", "2024-03-03T11:00:00Z"),
                now
            )
            .await),
        "Failed to create silence: end time can't be in the past"
    );
    assert_eq!(
        err(s
            .set(
                sil("a=1", "2024-03-03T13:00:00Z", "2024-03-03T12:30:00Z"),
                now
            )
            .await),
        "silence invalid: end time must not be before start time"
    );
    let mut unknown = sil("a=1", NOW, "2024-03-03T13:00:00Z");
    unknown.id = "nope".into();
    assert_eq!(err(s.post(unknown, now).await), "silence not found");
}

#[tokio::test]
async fn lifecycle_update_and_expire() {
    let (mem, s) = store().await;
    let now = at(NOW);
    let id = s
        .post(
            sil("job=api", "2024-03-03T11:00:00Z", "2024-03-03T14:00:00Z"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(id.len(), 36);
    let got = s.get(&id).unwrap();
    // A start in the past is moved to now.
    assert_eq!(got.starts_at, now);
    assert_eq!(got.state(now), SilenceState::Active);
    assert_eq!(s.mutes(&labels(&[("job", "api")]), now), vec![id.clone()]);
    assert!(s.mutes(&labels(&[("job", "db")]), now).is_empty());

    // Active, same matchers and start: updated in place.
    let mut longer = got.clone();
    longer.ends_at = at("2024-03-03T16:00:00Z");
    let t1 = at("2024-03-03T12:10:00Z");
    assert_eq!(s.set(longer, t1).await.unwrap(), id);
    assert_eq!(s.get(&id).unwrap().ends_at, at("2024-03-03T16:00:00Z"));
    assert_eq!(s.get(&id).unwrap().updated_at, t1);

    // Changed matchers: the old silence expires, a new ID is issued.
    let mut changed = s.get(&id).unwrap();
    changed.matchers = Matchers(parse_matchers("job=~api|db").unwrap());
    let t2 = at("2024-03-03T12:20:00Z");
    let id2 = s.set(changed, t2).await.unwrap();
    assert_ne!(id2, id);
    assert_eq!(s.get(&id).unwrap().ends_at, t2);
    assert_eq!(
        s.get(&id).unwrap().state(at("2024-03-03T12:21:00Z")),
        SilenceState::Expired
    );
    assert_eq!(s.get(&id2).unwrap().starts_at, t2);

    // A pending silence may move its start, staying in the future.
    let pend = s
        .post(
            sil("x=1", "2024-03-04T00:00:00Z", "2024-03-04T02:00:00Z"),
            t2,
        )
        .await
        .unwrap();
    let mut p = s.get(&pend).unwrap();
    assert_eq!(p.state(t2), SilenceState::Pending);
    p.starts_at = at("2024-03-04T01:00:00Z");
    assert_eq!(s.set(p, t2).await.unwrap(), pend);
    // Expiring a pending silence ends it at once.
    s.expire(&pend, t2).await.unwrap();
    let p = s.get(&pend).unwrap();
    assert_eq!((p.starts_at, p.ends_at), (t2, t2));
    assert_eq!(s.expire("missing", t2).await, Err(SilenceError::NotFound));

    // API order: active, then pending, then expired (newest end first).
    let later = at("2024-03-03T12:30:00Z");
    let order: Vec<String> = s.query(&[], later).into_iter().map(|x| x.id).collect();
    assert_eq!(order[0], id2);
    assert_eq!(order.len(), 3);
    // Both others ended at t2; equal ends fall back to ID order.
    let mut rest = [id.clone(), pend.clone()];
    rest.sort();
    assert_eq!(order[1..], rest[..]);
    // The filter compares matchers, it does not evaluate them.
    let f = parse_matchers("job=~api|db").unwrap();
    assert_eq!(s.query(&f, later).len(), 1);
    assert!(s.query(&parse_matchers("job=api").unwrap(), later).len() == 1);

    // A restart sees the same silences.
    let again = Silences::load(mem.clone(), DEFAULT_RETENTION)
        .await
        .unwrap();
    assert_eq!(again.get(&id2), s.get(&id2));

    // Retention: expired silences go once their end is older than it.
    let far = at("2024-03-09T00:00:00Z");
    assert_eq!(s.gc(far).await.unwrap(), 3);
    assert!(s.get(&id).is_none());
    assert!(mem.load_silences().await.unwrap().is_empty());
}

#[tokio::test]
async fn recurring_silence_is_active_only_in_its_schedule() {
    let (mem, s) = store().await;
    let now = at("2024-03-01T00:00:00Z");
    let mut weekly = sil(
        "alertname=Backup",
        "2024-03-01T00:00:00Z",
        "2024-06-01T00:00:00Z",
    );
    weekly.schedule = Some(
        serde_yaml::from_str(
            "- weekdays: [sunday]\n  times: [{start_time: '02:00', end_time: '04:00'}]\n  location: Europe/Berlin\n",
        )
        .unwrap(),
    );
    let id = s.post(weekly, now).await.unwrap();
    let l = labels(&[("alertname", "Backup")]);
    // Sunday 3 March 2024, 02:30 in Berlin is 01:30 UTC.
    let inside = at("2024-03-03T01:30:00Z");
    let before = at("2024-03-03T00:30:00Z");
    let monday = at("2024-03-04T01:30:00Z");
    assert_eq!(s.mutes(&l, inside), vec![id.clone()]);
    assert!(s.mutes(&l, before).is_empty());
    assert!(s.mutes(&l, monday).is_empty());
    let got = s.get(&id).unwrap();
    assert_eq!(got.state(inside), SilenceState::Active);
    assert_eq!(got.state(monday), SilenceState::Pending);
    assert_eq!(got.window_state(monday), SilenceState::Active);
    // After summer time starts (31 March), 02:30 Berlin is 00:30 UTC.
    assert_eq!(s.mutes(&l, at("2024-04-07T00:30:00Z")), vec![id.clone()]);
    assert!(s.mutes(&l, at("2024-04-07T01:30:00Z")).len() == 1);
    assert!(s.mutes(&l, at("2024-04-07T02:30:00Z")).is_empty());
    // The schedule survives the store.
    let again = Silences::load(mem, DEFAULT_RETENTION).await.unwrap();
    assert_eq!(again.get(&id), Some(got));
}
