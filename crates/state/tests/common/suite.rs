//! Repository tests shared by the SQLite and PostgreSQL suites: each backend's test
//! file opens a database its own way and runs every function here against it
//! through [`backend_tests!`].

use std::collections::{BTreeMap, HashSet};

use pharos_state::{
    AlertRecord, Database, EventKind, HistoryEvent, HistoryQuery, Labels, Matcher, NflogEntry,
    Order, RuleForState, Silence, SilenceState, SloSpec, StateError,
};

/// Generates one `#[tokio::test]` per named suite function, opening the database
/// with `$open` (an async fn returning a fixture with a `db` field).
macro_rules! backend_tests {
    ($open:path => $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let fixture = $open().await;
            suite::$name(&fixture.db).await;
            fixture.db.close().await;
        }
    )*};
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn silence(id: &str, starts_at: i64, ends_at: i64) -> Silence {
    Silence {
        id: id.into(),
        matchers: vec![
            Matcher::equal("alertname", "DiskFull"),
            Matcher::regex("instance", "db-[0-9]+"),
            Matcher::not_equal("env", "dev"),
        ],
        starts_at,
        ends_at,
        updated_at: starts_at,
        created_by: "oncall@example.org".into(),
        comment: "maintenance — ünïcode ok".into(),
        schedule: None,
    }
}

pub async fn schema_is_migrated(db: &Database) {
    let latest = *pharos_state::migrate::versions().last().unwrap();
    assert_eq!(db.schema_version().await.unwrap(), latest);
}

pub async fn silences_crud(db: &Database) {
    let s = db.silences();
    assert!(s.get("nope").await.unwrap().is_none());
    let pending = silence("a-pending", 2_000, 3_000);
    let active = silence("b-active", 500, 1_500);
    let expired = silence("c-expired", 100, 900);
    for x in [&pending, &active, &expired] {
        s.upsert(x).await.unwrap();
    }
    assert_eq!(s.get("b-active").await.unwrap().as_ref(), Some(&active));

    // Upsert replaces every field of an existing id.
    let mut edited = active.clone();
    edited.comment = "extended".into();
    edited.ends_at = 1_800;
    edited
        .matchers
        .push(Matcher::not_regex("team", "db|storage"));
    edited.schedule = Some("- weekdays: ['saturday', 'sunday']\n".into());
    s.upsert(&edited).await.unwrap();
    assert_eq!(s.get("b-active").await.unwrap(), Some(edited.clone()));

    let ids = |v: Vec<Silence>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list().await.unwrap()),
        ["c-expired", "b-active", "a-pending"]
    );
    let at = 1_000;
    for (state, want) in [
        (SilenceState::Pending, vec!["a-pending"]),
        (SilenceState::Active, vec!["b-active"]),
        (SilenceState::Expired, vec!["c-expired"]),
    ] {
        let got = s.list_in_state(state, at).await.unwrap();
        assert!(got.iter().all(|x| x.state_at(at) == state));
        assert_eq!(ids(got), want, "{state:?}");
    }
    // Boundaries agree with Silence::state_at: ends_at itself is expired.
    assert_eq!(
        ids(s.list_in_state(SilenceState::Expired, 1_800).await.unwrap()),
        ["c-expired", "b-active"]
    );

    // Retention: only silences that ended before the cutoff go.
    assert_eq!(s.delete_expired_before(900).await.unwrap(), 0);
    assert_eq!(s.delete_expired_before(901).await.unwrap(), 1);
    assert!(s.get("c-expired").await.unwrap().is_none());
    assert!(s.delete("a-pending").await.unwrap());
    assert!(!s.delete("a-pending").await.unwrap());
    assert_eq!(ids(s.list().await.unwrap()), ["b-active"]);

    let backwards = silence("bad", 10, 5);
    assert!(matches!(
        s.upsert(&backwards).await,
        Err(StateError::InvalidRecord { .. })
    ));
    assert!(matches!(
        s.upsert(&silence("", 1, 2)).await,
        Err(StateError::InvalidRecord { .. })
    ));
}

fn nflog_entry(group: &str, integration: &str, index: u32, at: i64) -> NflogEntry {
    NflogEntry {
        group_key: group.into(),
        receiver: "team-db".into(),
        integration: integration.into(),
        integration_index: index,
        firing_alerts: vec![1, u64::MAX, 1 << 63],
        resolved_alerts: vec![42],
        timestamp: at,
        expires_at: at + 1_000,
    }
}

pub async fn nflog_roundtrip(db: &Database) {
    let n = db.nflog();
    let a = nflog_entry("{}:{alertname=\"X\"}", "webhook", 0, 100);
    let b = nflog_entry("{}:{alertname=\"X\"}", "webhook", 1, 200);
    let c = nflog_entry("{}:{alertname=\"Y\"}", "slack", 0, 5_000);
    n.upsert_many(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(
        n.get(&a.group_key, "team-db", "webhook", 0).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        n.get(&a.group_key, "team-db", "webhook", 1).await.unwrap(),
        Some(b.clone())
    );
    assert!(n
        .get(&a.group_key, "other", "webhook", 0)
        .await
        .unwrap()
        .is_none());

    // Same key: the new notification replaces the old one.
    let mut a2 = a.clone();
    a2.firing_alerts = vec![];
    a2.resolved_alerts = vec![1, 2, 3];
    a2.timestamp = 900;
    a2.expires_at = 1_900;
    n.upsert(&a2).await.unwrap();

    // At 1_200, b (expires 1_200) is expired, a2 and c are live.
    let live = n.load_active(1_200).await.unwrap();
    assert_eq!(live, vec![a2.clone(), c.clone()]);
    assert_eq!(n.purge_expired(1_200).await.unwrap(), 1);
    assert_eq!(n.load_active(0).await.unwrap().len(), 2);
    assert_eq!(n.purge_expired(10_000).await.unwrap(), 2);
    assert!(n.load_active(0).await.unwrap().is_empty());
    n.upsert_many(&[]).await.unwrap();
}

fn alert(fp: &str, starts_at: i64, ends_at: i64) -> AlertRecord {
    AlertRecord {
        fingerprint: fp.into(),
        labels: labels(&[("alertname", "HighLatency"), ("instance", fp)]),
        annotations: labels(&[("summary", "p99 \"high\"\nsee runbook")]),
        starts_at,
        ends_at,
        updated_at: starts_at,
        generator_url: format!("http://pharos:9700/graph?g0.expr=up%7Binstance%3D%22{fp}%22%7D"),
    }
}

pub async fn alerts_roundtrip(db: &Database) {
    let a = db.alerts();
    assert!(a.load_all().await.unwrap().is_empty());
    let firing = alert("00aa", 1_000, 10_000);
    let resolved_old = alert("00bb", 100, 500);
    let resolved_new = alert("00cc", 100, 2_000);
    a.upsert_many(&[resolved_new.clone(), firing.clone(), resolved_old.clone()])
        .await
        .unwrap();
    assert_eq!(
        a.load_all().await.unwrap(),
        vec![firing.clone(), resolved_old.clone(), resolved_new.clone()]
    );
    assert_eq!(a.get("00aa").await.unwrap(), Some(firing.clone()));
    assert!(a.get("ffff").await.unwrap().is_none());

    let mut refreshed = firing.clone();
    refreshed.ends_at = 20_000;
    refreshed.updated_at = 5_000;
    refreshed
        .annotations
        .insert("description".into(), "still bad".into());
    a.upsert(&refreshed).await.unwrap();
    assert_eq!(a.get("00aa").await.unwrap(), Some(refreshed.clone()));
    assert!(!refreshed.resolved_at(19_999));

    assert_eq!(a.delete_resolved_before(1_000).await.unwrap(), 1);
    assert_eq!(a.delete_resolved_before(3_000).await.unwrap(), 1);
    assert_eq!(a.load_all().await.unwrap(), vec![refreshed]);
}

fn event(fp: &str, kind: EventKind, at: i64, extra: &[(&str, &str)]) -> HistoryEvent {
    let mut l = labels(&[("alertname", "HighLatency"), ("fp", fp)]);
    l.extend(labels(extra));
    HistoryEvent {
        fingerprint: fp.into(),
        labels: l,
        kind,
        receiver: matches!(kind, EventKind::Notified | EventKind::NotifyFailed)
            .then(|| "team-db".to_string()),
        integration: matches!(kind, EventKind::Notified | EventKind::NotifyFailed)
            .then(|| "webhook[0]".to_string()),
        detail: (kind == EventKind::NotifyFailed).then(|| "HTTP 503".to_string()),
        at,
    }
}

pub async fn history_queries(db: &Database) {
    let h = db.history();
    let evs = vec![
        event("a", EventKind::Firing, 100, &[("env", "prod")]),
        event("b", EventKind::Firing, 100, &[("env", "staging")]),
        event("a", EventKind::Notified, 150, &[("env", "prod")]),
        event("a", EventKind::NotifyFailed, 160, &[("env", "prod")]),
        event("b", EventKind::Silenced, 200, &[("env", "staging")]),
        event("c", EventKind::Inhibited, 250, &[]),
        event("b", EventKind::Unsuppressed, 260, &[("env", "staging")]),
        event("a", EventKind::Resolved, 300, &[("env", "prod")]),
    ];
    let ids = h.append_many(&evs).await.unwrap();
    assert_eq!(ids.len(), evs.len());
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids follow append order"
    );

    let all = h.query(&HistoryQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), evs);
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids);

    let fps = |q: HistoryQuery| {
        let h = db.history();
        async move {
            h.query(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|e| format!("{}:{}", e.event.fingerprint, e.event.kind))
                .collect::<Vec<_>>()
        }
    };
    // Time range: from inclusive, to exclusive.
    let q = HistoryQuery {
        from: Some(150),
        to: Some(250),
        ..Default::default()
    };
    assert_eq!(
        fps(q).await,
        ["a:notified", "a:notify_failed", "b:silenced"]
    );
    // Equality, regex and negative matchers; missing label matches as "".
    let q = HistoryQuery {
        matchers: vec![
            Matcher::equal("env", "prod"),
            Matcher::not_regex("fp", "b|c"),
        ],
        ..Default::default()
    };
    assert_eq!(
        fps(q).await,
        ["a:firing", "a:notified", "a:notify_failed", "a:resolved"]
    );
    let q = HistoryQuery {
        matchers: vec![Matcher::equal("env", "")],
        ..Default::default()
    };
    assert_eq!(fps(q).await, ["c:inhibited"]);
    // Fingerprint, kinds, newest first, limit.
    let q = HistoryQuery {
        fingerprint: Some("a".into()),
        order: Order::Descending,
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(fps(q).await, ["a:resolved", "a:notify_failed"]);
    let q = HistoryQuery {
        kinds: vec![EventKind::Firing, EventKind::Silenced],
        order: Order::Descending,
        ..Default::default()
    };
    assert_eq!(fps(q).await, ["b:silenced", "b:firing", "a:firing"]);
    let q = HistoryQuery {
        limit: Some(0),
        ..Default::default()
    };
    assert!(fps(q).await.is_empty());

    let failed = h
        .query(&HistoryQuery {
            kinds: vec![EventKind::NotifyFailed],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed[0].event.receiver.as_deref(), Some("team-db"));
    assert_eq!(failed[0].event.integration.as_deref(), Some("webhook[0]"));
    assert_eq!(failed[0].event.detail.as_deref(), Some("HTTP 503"));

    let bad = HistoryQuery {
        matchers: vec![Matcher::regex("env", "(")],
        ..Default::default()
    };
    assert!(matches!(h.query(&bad).await, Err(StateError::Regex { .. })));

    assert_eq!(h.delete_before(160).await.unwrap(), 3);
    assert_eq!(h.query(&HistoryQuery::default()).await.unwrap().len(), 5);
}

/// More rows than one page, with a selective matcher: pages must chain without
/// gaps or repeats in both directions, including ties on `at`.
pub async fn history_paging(db: &Database) {
    let h = db.history();
    let evs: Vec<_> = (0..1_300)
        .map(|i: i64| {
            let shard = (i % 7).to_string();
            event(
                &format!("fp{i}"),
                EventKind::Firing,
                i / 3,
                &[("shard", &shard)],
            )
        })
        .collect();
    h.append_many(&evs).await.unwrap();
    let q = HistoryQuery {
        matchers: vec![Matcher::equal("shard", "3")],
        ..Default::default()
    };
    let asc = h.query(&q).await.unwrap();
    let want: Vec<_> = evs
        .iter()
        .filter(|e| e.labels["shard"] == "3")
        .cloned()
        .collect();
    assert_eq!(
        asc.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        want
    );

    let desc = h
        .query(&HistoryQuery {
            order: Order::Descending,
            ..q.clone()
        })
        .await
        .unwrap();
    let mut reversed = asc.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);

    let limited = h
        .query(&HistoryQuery {
            limit: Some(150),
            ..q
        })
        .await
        .unwrap();
    assert_eq!(limited, asc[..150]);
    let unfiltered = h
        .query(&HistoryQuery {
            limit: Some(1_000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(unfiltered.len(), 1_000);
}

pub async fn rule_state_groups(db: &Database) {
    let r = db.rule_states();
    assert!(r.load_group("g1").await.unwrap().is_empty());
    let first = vec![
        RuleForState::new("HighLatency", "aa", 1_000),
        RuleForState::new("HighLatency", "bb", 1_500),
        RuleForState::new("DiskFull", "aa", 900),
    ];
    r.save_group("g1", &first).await.unwrap();
    r.save_group("g2", &[RuleForState::new("Down", "cc", 10)])
        .await
        .unwrap();
    let mut sorted = first.clone();
    sorted.sort_by(|a, b| (&a.rule, &a.fingerprint).cmp(&(&b.rule, &b.fingerprint)));
    assert_eq!(r.load_group("g1").await.unwrap(), sorted);
    assert_eq!(r.groups().await.unwrap(), ["g1", "g2"]);

    // The next save is the whole truth for the group: resolved alerts disappear.
    let second = vec![RuleForState::new("HighLatency", "bb", 1_500)];
    r.save_group("g1", &second).await.unwrap();
    assert_eq!(r.load_group("g1").await.unwrap(), second);
    assert_eq!(r.load_group("g2").await.unwrap().len(), 1);

    let dup = vec![
        RuleForState::new("X", "aa", 1),
        RuleForState::new("X", "aa", 2),
    ];
    assert!(matches!(
        r.save_group("g1", &dup).await,
        Err(StateError::InvalidRecord { .. })
    ));
    assert_eq!(
        r.load_group("g1").await.unwrap(),
        second,
        "rejected save changed nothing"
    );

    assert_eq!(r.delete_group("g2").await.unwrap(), 1);
    r.save_group("g1", &[]).await.unwrap();
    assert!(r.groups().await.unwrap().is_empty());
}

const SLO_YAML: &str = "service: checkout\nname: availability\nobjective: 99.9\n\
    # comments and layout are kept as submitted\nsli:\n  events:\n    error_query: |\n      \
    sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))\n";
const SLO_JSON: &str = r#"{"service":"checkout","name":"latency","objective":99,"note":"ünïcode"}"#;

fn slo_pairs(ids: &[&str]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| (id.to_string(), format!("{{\"id\":\"{id}\"}}")))
        .collect()
}

pub async fn slo_specs_crud(db: &Database) {
    let s = db.slo_specs();
    assert!(s.get("checkout-availability").await.unwrap().is_none());
    assert!(s.list().await.unwrap().is_empty());

    // insert: a new id is stored with created_at = updated_at = now.
    assert!(s
        .insert("checkout-availability", SLO_YAML, 1_000)
        .await
        .unwrap());
    let stored = SloSpec {
        id: "checkout-availability".into(),
        spec: SLO_YAML.into(),
        created_at: 1_000,
        updated_at: 1_000,
    };
    assert_eq!(
        s.get("checkout-availability").await.unwrap(),
        Some(stored.clone())
    );
    // A second insert of the same id is refused without an error and changes nothing.
    assert!(!s
        .insert("checkout-availability", SLO_JSON, 2_000)
        .await
        .unwrap());
    assert_eq!(
        s.get("checkout-availability").await.unwrap(),
        Some(stored.clone())
    );

    // upsert: creates a missing id (true) ...
    assert!(s.upsert("checkout-latency", SLO_JSON, 1_500).await.unwrap());
    assert_eq!(
        s.get("checkout-latency").await.unwrap(),
        Some(SloSpec {
            id: "checkout-latency".into(),
            spec: SLO_JSON.into(),
            created_at: 1_500,
            updated_at: 1_500,
        })
    );
    // ... and replaces an existing one (false), keeping created_at.
    assert!(!s
        .upsert("checkout-availability", SLO_JSON, 3_000)
        .await
        .unwrap());
    let replaced = SloSpec {
        spec: SLO_JSON.into(),
        updated_at: 3_000,
        ..stored.clone()
    };
    assert_eq!(
        s.get("checkout-availability").await.unwrap(),
        Some(replaced.clone())
    );

    // insert_many: all or nothing. One taken id among new ones stores none of them
    // and reports the taken ids in the order given.
    let batch = slo_pairs(&[
        "web-errors",
        "checkout-latency",
        "api-x",
        "checkout-availability",
    ]);
    assert_eq!(
        s.insert_many(&batch, 4_000).await.unwrap(),
        ["checkout-latency", "checkout-availability"]
    );
    assert!(s.get("web-errors").await.unwrap().is_none());
    assert!(s.get("api-x").await.unwrap().is_none());
    assert_eq!(
        s.get("checkout-availability").await.unwrap(),
        Some(replaced.clone())
    );
    assert_eq!(s.list().await.unwrap().len(), 2);
    // Without conflicts every spec is stored.
    let batch = slo_pairs(&["web-errors", "apix", "api-x", "Zeta-ratio"]);
    assert!(s.insert_many(&batch, 5_000).await.unwrap().is_empty());
    let web = s.get("web-errors").await.unwrap().unwrap();
    assert_eq!(web.spec, batch[0].1);
    assert_eq!((web.created_at, web.updated_at), (5_000, 5_000));
    assert!(s.insert_many(&[], 6_000).await.unwrap().is_empty());
    // An id listed twice is an invalid batch, not a conflict.
    let twice = slo_pairs(&["new-one", "new-one"]);
    assert!(matches!(
        s.insert_many(&twice, 6_000).await,
        Err(StateError::InvalidRecord { .. })
    ));
    assert!(s.get("new-one").await.unwrap().is_none());
    for bad in [s.insert("", "x", 1).await, s.upsert("", "x", 1).await] {
        assert!(matches!(bad, Err(StateError::InvalidRecord { .. })));
    }

    // list: by id in byte order on both backends, whatever the collation.
    let ids = |v: Vec<SloSpec>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list().await.unwrap()),
        [
            "Zeta-ratio",
            "api-x",
            "apix",
            "checkout-availability",
            "checkout-latency",
            "web-errors"
        ]
    );
    assert_eq!(
        s.list().await.unwrap()[3],
        replaced,
        "list returns whole records"
    );

    // delete: true once, then false; a missing id is false.
    assert!(s.delete("apix").await.unwrap());
    assert!(!s.delete("apix").await.unwrap());
    assert!(!s.delete("never-existed").await.unwrap());
    assert!(s.get("apix").await.unwrap().is_none());
    // A deleted id can be inserted again, as new.
    assert!(s.insert("apix", "v2", 7_000).await.unwrap());
    assert_eq!(s.get("apix").await.unwrap().unwrap().created_at, 7_000);
    assert_eq!(s.list().await.unwrap().len(), 6);
}

/// Several tasks write the notification log and the history at once while another
/// reads; every write must land exactly once, none may fail on a busy database.
pub async fn concurrent_writers(db: &Database) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 25;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..ROUNDS {
                let at = (i * TASKS + t) as i64;
                let mut own = nflog_entry(&format!("group-{t}-{i}"), "webhook", 0, at);
                own.firing_alerts = vec![t as u64, i as u64];
                // Every task also rewrites one hot key.
                let mut hot = nflog_entry("hot", "webhook", 0, at);
                hot.firing_alerts = vec![t as u64];
                db.nflog().upsert_many(&[own, hot]).await.unwrap();
                let ev = event(
                    &format!("t{t}"),
                    EventKind::Notified,
                    at,
                    &[("round", &i.to_string())],
                );
                db.history().append(&ev).await.unwrap();
            }
        }));
    }
    let reader = {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                db.nflog().load_active(i64::MIN).await.unwrap();
                db.history().query(&HistoryQuery::default()).await.unwrap();
            }
        })
    };
    for h in handles {
        h.await.unwrap();
    }
    reader.await.unwrap();

    let entries = db.nflog().load_active(i64::MIN).await.unwrap();
    assert_eq!(entries.len(), TASKS * ROUNDS + 1);
    let hot = entries.iter().find(|e| e.group_key == "hot").unwrap();
    assert!(hot.firing_alerts.len() == 1 && hot.firing_alerts[0] < TASKS as u64);
    let events = db.history().query(&HistoryQuery::default()).await.unwrap();
    assert_eq!(events.len(), TASKS * ROUNDS);
    let ids: HashSet<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), events.len());
    let mut per_task: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        *per_task.entry(e.event.fingerprint.clone()).or_default() += 1;
    }
    assert!(per_task.values().all(|&n| n == ROUNDS), "{per_task:?}");
    assert!(events.windows(2).all(|w| w[0].event.at <= w[1].event.at));
}

/// Writes one record of each kind; [`restart_check`] expects them after a reopen.
pub async fn restart_write(db: &Database) {
    db.silences().upsert(&silence("s1", 10, 20)).await.unwrap();
    db.nflog()
        .upsert(&nflog_entry("g", "email", 2, 100))
        .await
        .unwrap();
    db.alerts().upsert(&alert("0a0b", 5, 50)).await.unwrap();
    db.history()
        .append(&event("0a0b", EventKind::Firing, 5, &[]))
        .await
        .unwrap();
    db.rule_states()
        .save_group("g", &[RuleForState::new("r", "0a0b", 5)])
        .await
        .unwrap();
    assert!(db
        .slo_specs()
        .insert("checkout-availability", SLO_YAML, 5)
        .await
        .unwrap());
}

pub async fn restart_check(db: &Database) {
    schema_is_migrated(db).await;
    assert_eq!(
        db.silences().get("s1").await.unwrap(),
        Some(silence("s1", 10, 20))
    );
    assert_eq!(
        db.nflog().load_active(0).await.unwrap(),
        vec![nflog_entry("g", "email", 2, 100)]
    );
    assert_eq!(
        db.alerts().load_all().await.unwrap(),
        vec![alert("0a0b", 5, 50)]
    );
    let history = db.history().query(&HistoryQuery::default()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].event, event("0a0b", EventKind::Firing, 5, &[]));
    assert_eq!(
        db.rule_states().load_group("g").await.unwrap(),
        vec![RuleForState::new("r", "0a0b", 5)]
    );
    assert_eq!(
        db.slo_specs().list().await.unwrap(),
        vec![SloSpec {
            id: "checkout-availability".into(),
            spec: SLO_YAML.into(),
            created_at: 5,
            updated_at: 5,
        }]
    );
    // Ids keep growing after a restart.
    let id = db
        .history()
        .append(&event("0a0b", EventKind::Resolved, 50, &[]))
        .await
        .unwrap();
    assert!(id > history[0].id);
}

/// A migrations directory holding `backend`'s (`sqlite` or `postgres`) migration
/// files up to version `max`, for building a database as an older release left it.
pub fn migrations_up_to(backend: &str, max: i64) -> tempfile::TempDir {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version <= max {
            std::fs::copy(entry.path(), dir.path().join(&name)).unwrap();
        }
    }
    dir
}

/// Written with plain SQL into a schema-version-1 database before the upgrade.
pub const V1_SEED: &str =
    "INSERT INTO rule_for_state (rule_group, rule_name, fingerprint, active_at) \
     VALUES ('g', 'r', '0a0b', 5)";

/// After opening a database built by migration 1 and seeded with [`V1_SEED`]: the
/// newer migrations ran, the old rows survived and the new tables work.
pub async fn upgraded_from_v1(db: &Database) {
    schema_is_migrated(db).await;
    assert!(db.schema_version().await.unwrap() >= 2);
    assert_eq!(
        db.rule_states().load_group("g").await.unwrap(),
        vec![RuleForState::new("r", "0a0b", 5)]
    );
    assert!(db.slo_specs().list().await.unwrap().is_empty());
    assert!(db
        .slo_specs()
        .insert("checkout-availability", SLO_YAML, 5)
        .await
        .unwrap());
    assert_eq!(
        db.slo_specs()
            .get("checkout-availability")
            .await
            .unwrap()
            .map(|s| s.spec),
        Some(SLO_YAML.to_string())
    );
}
