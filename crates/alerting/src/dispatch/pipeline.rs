//! The notification pipeline a flush runs, as Alertmanager's stages
//! (`notify/notify.go`): inhibit → time active → time mute → silence →
//! fan-out to the receiver's integrations, each with dedup (against the
//! notification log) → retry with backoff until the next flush is due →
//! record in the notification log. Every outcome is written to the alert
//! history. Pharos adds two stages of its own ([`super::fatigue`]): after
//! the silence stage, flapping alerts are announced once and then held;
//! after dedup, a receiver's page budget holds the flushes over budget for
//! a summary sent when it refills.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::fatigue::{
    annotate_flapping, annotate_held, Budget, BudgetDecision, FlapStatus, HeldGroup, Taken,
    BUDGET_BY, FLAPPING_ANNOTATION,
};
use super::group::AggrGroup;
use super::{history, Core, DispatcherConfig};
use crate::alert::{alert_order, Alert, Fingerprint, LabelMap};
use crate::metrics::FailureReason;
use crate::nflog::{update_reason, ReceiverKey};
use crate::notify::{Integration, NotifyContext};
use crate::persist::{HistoryEvent, HistoryKind};
use crate::route::Route;

pub(crate) struct Flush<'a> {
    pub(crate) group: &'a AggrGroup,
    pub(crate) alerts: &'a [Alert],
    pub(crate) now: chrono::DateTime<chrono::Utc>,
    /// When the next flush is due; retries stop there.
    pub(crate) deadline: Instant,
}

fn find_route<'a>(root: &'a Route, id: &str) -> Option<&'a Route> {
    let mut found = None;
    root.walk(&mut |r| {
        if found.is_none() && r.id() == id {
            found = Some(r);
        }
    });
    found
}

/// What a flush achieved: whether it counts as delivered (including when
/// every alert was muted, as in Alertmanager), and the alerts the group
/// must keep even when resolved and delivered (flapping ones, whose
/// settled state is still to be notified).
pub(crate) struct FlushOutcome {
    pub(crate) delivered: bool,
    pub(crate) keep: HashSet<Fingerprint>,
}

impl FlushOutcome {
    fn done(delivered: bool) -> FlushOutcome {
        FlushOutcome {
            delivered,
            keep: HashSet::new(),
        }
    }
}

/// One integration's share of a flush, decided before anything is sent.
struct Plan {
    ctx: NotifyContext,
    integration: Integration,
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    to_send: Vec<Alert>,
    /// Flapping alerts this send tells the integration about.
    announce: Vec<Fingerprint>,
}

/// Runs the pipeline.
pub(crate) async fn run(core: &Arc<Core>, f: Flush<'_>) -> FlushOutcome {
    let cfg = f.group.config.clone();
    let fps: Vec<_> = f.alerts.iter().map(Alert::fingerprint).collect();
    let mut events = core.note_resolutions(Some(&fps), f.now);
    let refs: Vec<&Alert> = f.alerts.iter().collect();
    let (statuses, status_events) = core.refresh_statuses(&cfg, &refs, f.now);
    events.extend(status_events);
    core.record(events).await;

    // Inhibit stage.
    let remaining: Vec<(&Alert, bool)> = f
        .alerts
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| s.inhibited_by.is_empty())
        .map(|(a, s)| (a, !s.silenced_by.is_empty()))
        .collect();
    // Time active and time mute stages.
    if let Some(route) = find_route(&cfg.route, &f.group.route_id) {
        match route.muted_at(&cfg.intervener, f.now) {
            Ok(true) => return FlushOutcome::done(true),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, group = %f.group.key, "time interval check failed");
                return FlushOutcome::done(false);
            }
        }
    }
    // Silence stage.
    let alerts: Vec<Alert> = remaining
        .into_iter()
        .filter(|(_, silenced)| !silenced)
        .map(|(a, _)| a.clone())
        .collect();
    if alerts.is_empty() {
        return FlushOutcome::done(true);
    }

    // Flapping stage (Pharos): flapping alerts go only to integrations not
    // yet told, and stay in the group until they settle.
    let receiver = f.group.opts.receiver.clone();
    let fatigue = cfg.fatigue.get(&receiver).copied().unwrap_or_default();
    let mut keep = HashSet::new();
    let mut normal = Vec::with_capacity(alerts.len());
    let mut flapping: Vec<(Alert, HashSet<ReceiverKey>)> = Vec::new();
    let mut flap_events = Vec::new();
    for a in alerts {
        let status = match fatigue.flapping {
            Some(fl) => core
                .fatigue
                .flap_status(&receiver, fl, &a, f.now, &mut flap_events),
            None => FlapStatus::Normal,
        };
        match status {
            FlapStatus::Normal => normal.push(a),
            FlapStatus::Flapping(told) => {
                keep.insert(a.fingerprint());
                flapping.push((a, told));
            }
        }
    }
    // The flapping stage writes a "silenced" event exactly when it marks an
    // alert as flapping (an "unsuppressed" one when it settles).
    let marked = flap_events
        .iter()
        .filter(|e| e.kind == HistoryKind::Silenced)
        .count();
    core.metrics.flapping_marked(marked as u64);
    core.record(flap_events).await;

    // Dedup stage, per integration.
    let integrations = cfg.receivers.get(&receiver).cloned().unwrap_or_default();
    let mut plans = Vec::new();
    for integration in integrations {
        let key = ReceiverKey {
            receiver: receiver.clone(),
            integration: integration.name.clone(),
            index: integration.index,
        };
        let pending: Vec<Alert> = flapping
            .iter()
            .filter(|(_, told)| !told.contains(&key))
            .map(|(a, _)| annotate_flapping(a))
            .collect();
        let announce: Vec<Fingerprint> = pending.iter().map(Alert::fingerprint).collect();
        let mut considered = normal.clone();
        considered.extend(pending);
        if considered.is_empty() {
            continue;
        }
        considered.sort_by(alert_order);
        let hashes = |resolved: bool| -> BTreeSet<u64> {
            considered
                .iter()
                .filter(|a| a.ends_at.is_some() == resolved)
                .map(|a| a.fingerprint().0)
                .collect()
        };
        let (firing, resolved) = (hashes(false), hashes(true));
        core.metrics.nflog_query();
        let entry = core.nflog.query(&f.group.key, &key);
        let reason = update_reason(
            entry.as_ref(),
            &firing,
            &resolved,
            integration.send_resolved,
            f.group.opts.repeat_interval,
            f.now,
        );
        // A flapping alert not yet announced is news even when the
        // notification log has nothing new.
        let reason = if reason.should_notify() {
            reason.as_str()
        } else if !announce.is_empty() {
            "alert flapping"
        } else {
            continue;
        };
        // Without send_resolved only firing alerts go out; a flush of
        // resolved alerts alone is logged as sent so the log forgets them.
        let to_send: Vec<Alert> = if integration.send_resolved {
            considered
        } else if firing.is_empty() {
            Vec::new()
        } else {
            considered
                .into_iter()
                .filter(|a| a.ends_at.is_none())
                .collect()
        };
        let ctx = NotifyContext {
            group_key: f.group.key.clone(),
            group_labels: f.group.labels.clone(),
            receiver: key,
            repeat_interval: f.group.opts.repeat_interval,
            now: f.now,
            notification_reason: reason.to_string(),
            route_labels: f.group.opts.labels.clone(),
        };
        plans.push(Plan {
            ctx,
            integration,
            firing,
            resolved,
            to_send,
            announce,
        });
    }

    // Page budget stage (Pharos).
    if let Some(b) = fatigue.budget {
        if plans.iter().any(|p| !p.to_send.is_empty()) {
            let mut snapshot: BTreeMap<Fingerprint, Alert> = BTreeMap::new();
            for a in plans.iter().flat_map(|p| p.to_send.iter()) {
                snapshot.entry(a.fingerprint()).or_insert_with(|| a.clone());
            }
            let mut snapshot: Vec<Alert> = snapshot.into_values().collect();
            snapshot.sort_by(alert_order);
            let held = HeldGroup {
                alerts: snapshot.clone(),
                count: 0,
                logs: plans
                    .iter()
                    .map(|p| (p.ctx.receiver.clone(), p.firing.clone(), p.resolved.clone()))
                    .collect(),
                repeat_interval: f.group.opts.repeat_interval,
            };
            if let BudgetDecision::Held { schedule } =
                core.fatigue
                    .take_budget(&receiver, b, &f.group.key, held, f.now)
            {
                core.metrics.budget_held();
                let events = snapshot
                    .iter()
                    .map(|a| HistoryEvent {
                        receiver: Some(receiver.clone()),
                        ..history(f.now, HistoryKind::Silenced, a, vec![BUDGET_BY.to_string()])
                    })
                    .collect();
                core.record(events).await;
                if schedule {
                    spawn_summary(core.clone(), receiver);
                }
                return FlushOutcome {
                    delivered: true,
                    keep,
                };
            }
        }
    }

    let mut tasks = JoinSet::new();
    for plan in plans {
        tasks.spawn(notify_integration(
            core.clone(),
            plan,
            f.group.key.clone(),
            f.deadline,
        ));
    }
    let mut delivered = true;
    while let Some(r) = tasks.join_next().await {
        delivered &= matches!(r, Ok(true));
    }
    FlushOutcome { delivered, keep }
}

/// Retry and log for one integration; true on success.
async fn notify_integration(
    core: Arc<Core>,
    plan: Plan,
    group_key: String,
    deadline: Instant,
) -> bool {
    let Plan {
        ctx,
        integration,
        firing,
        resolved,
        to_send,
        announce,
    } = plan;
    let outcome = if to_send.is_empty() {
        Ok(())
    } else {
        send_with_retry(&core, &ctx, &integration, &to_send, deadline).await
    };
    let outcome = match outcome {
        Ok(()) => core
            .nflog
            .log(
                &group_key,
                &ctx.receiver,
                firing,
                resolved,
                core.now(),
                ctx.repeat_interval.saturating_mul(2),
            )
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if outcome.is_ok() {
        for fp in announce {
            core.fatigue.mark_told(fp, &ctx.receiver);
        }
    }
    let now = core.now();
    let events = sent_events(now, &ctx, &integration, &to_send, &outcome, Vec::new());
    core.record(events).await;
    if let Err(e) = &outcome {
        tracing::warn!(error = %e, group = %ctx.group_key, "notify for alerts failed");
    }
    outcome.is_ok()
}

/// History of one send: each alert sent, or failed to be.
fn sent_events(
    now: chrono::DateTime<chrono::Utc>,
    ctx: &NotifyContext,
    integration: &Integration,
    sent: &[Alert],
    outcome: &Result<(), String>,
    by: Vec<String>,
) -> Vec<HistoryEvent> {
    let kind = match outcome {
        Ok(()) => HistoryKind::NotificationSent,
        Err(_) => HistoryKind::NotificationFailed,
    };
    let integration_name = format!("{}[{}]", integration.name, integration.index);
    sent.iter()
        .map(|a| HistoryEvent {
            receiver: Some(ctx.receiver.receiver.clone()),
            integration: Some(integration_name.clone()),
            error: outcome.as_ref().err().cloned(),
            ..history(now, kind, a, by.clone())
        })
        .collect()
}

/// Starts the task that sends `receiver`'s page-budget summary once its
/// budget refills, and again after a failed attempt.
pub(crate) fn spawn_summary(core: Arc<Core>, receiver: String) {
    let mut stop = core.shutdown.subscribe();
    tokio::spawn(async move {
        loop {
            let cfg = core.config();
            let budget = cfg.fatigue.get(&receiver).and_then(|f| f.budget);
            let now = core.now();
            let at = budget.map_or(now, |b| core.fatigue.refill_at(&receiver, b, now));
            if at > now {
                let wait = (at - now).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            let held = match core.fatigue.take_held(&receiver, budget, now) {
                Taken::Nothing => return,
                // The slot went between the two looks: the next turn of
                // the loop sleeps until the following refill.
                Taken::Spent => continue,
                Taken::Held(h) => h,
            };
            if send_summary(&core, &cfg, &receiver, &held, budget).await {
                core.metrics.budget_summary_sent();
                return;
            }
            if !core.fatigue.restore_held(&receiver, held) {
                // A newer summary task owns the held notifications.
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(core.options.retry.max) => {}
                _ = stop.changed() => return,
            }
        }
    });
}

/// Sends one summary of `held` to every integration of `receiver`; true
/// when at least one took it (the others' failures are in the history).
async fn send_summary(
    core: &Arc<Core>,
    cfg: &DispatcherConfig,
    receiver: &str,
    held: &BTreeMap<String, HeldGroup>,
    budget: Option<Budget>,
) -> bool {
    let now = core.now();
    let total: u64 = held.values().map(|g| u64::from(g.count)).sum();
    let alerts: Vec<Alert> = held
        .iter()
        .flat_map(|(k, g)| g.alerts.iter().map(|a| annotate_held(a, k, g.count)))
        .collect();
    let window = budget.map_or(Duration::from_secs(3600), |b| b.per);
    let integrations = cfg.receivers.get(receiver).cloned().unwrap_or_default();
    let mut any_ok = integrations.is_empty();
    for integration in integrations {
        let key = ReceiverKey {
            receiver: receiver.to_string(),
            integration: integration.name.clone(),
            index: integration.index,
        };
        let ctx = NotifyContext {
            group_key: format!("{BUDGET_BY}:{receiver}"),
            group_labels: LabelMap::new(),
            receiver: key.clone(),
            repeat_interval: window,
            now,
            notification_reason: format!(
                "page budget summary: {total} notifications held for {} groups",
                held.len()
            ),
            route_labels: LabelMap::new(),
        };
        let to_send: Vec<Alert> = alerts
            .iter()
            .filter(|a| integration.send_resolved || a.ends_at.is_none())
            .cloned()
            .collect();
        let outcome = if to_send.is_empty() {
            Ok(())
        } else {
            let deadline = Instant::now() + window;
            send_with_retry(core, &ctx, &integration, &to_send, deadline).await
        };
        if outcome.is_ok() {
            any_ok = true;
            // The groups' next flushes compare against what the summary
            // carried, as if each had been sent.
            for (group_key, g) in held {
                for (k, firing, resolved) in g.logs.iter().filter(|l| l.0 == key) {
                    let logged = core
                        .nflog
                        .log(
                            group_key,
                            k,
                            firing.clone(),
                            resolved.clone(),
                            core.now(),
                            g.repeat_interval.saturating_mul(2),
                        )
                        .await;
                    if let Err(e) = logged {
                        tracing::warn!(error = %e, group = %group_key, "notification log write failed");
                    }
                }
                for a in &g.alerts {
                    if a.annotations.contains_key(FLAPPING_ANNOTATION) {
                        core.fatigue.mark_told(a.fingerprint(), &key);
                    }
                }
            }
        } else if let Err(e) = &outcome {
            tracing::warn!(error = %e, receiver, "page budget summary failed");
        }
        let events = sent_events(
            core.now(),
            &ctx,
            &integration,
            &to_send,
            &outcome,
            vec![BUDGET_BY.to_string()],
        );
        core.record(events).await;
    }
    any_ok
}

/// Alertmanager's retry stage: try at once, then back off, until success,
/// a permanent error, or the deadline.
async fn send_with_retry(
    core: &Core,
    ctx: &NotifyContext,
    integration: &Integration,
    alerts: &[Alert],
    deadline: Instant,
) -> Result<(), String> {
    let who = format!(
        "{}/{}[{}]",
        ctx.receiver.receiver, integration.name, integration.index
    );
    let metrics = &core.metrics;
    let kind = integration.name.as_str();
    metrics.notification(kind);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let started = Instant::now();
        let call = integration.notifier.notify(ctx, alerts);
        let result = tokio::time::timeout_at(deadline, call).await;
        metrics.request(kind, matches!(result, Ok(Ok(()))), started.elapsed());
        let err = match result {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if !e.is_retryable() => {
                metrics.notification_failed(kind, FailureReason::Permanent);
                return Err(format!(
                    "{who}: notify retry canceled due to unrecoverable error after {attempt} attempts: {e}"
                ));
            }
            Ok(Err(e)) => e.to_string(),
            // A request cut off at the deadline counts as retryable: it
            // might have succeeded with more time.
            Err(_) => "context deadline exceeded".to_string(),
        };
        let wait = core.options.retry.delay(attempt);
        if Instant::now() + wait >= deadline {
            metrics.notification_failed(kind, FailureReason::Retryable);
            return Err(format!(
                "{who}: notify retry canceled after {attempt} attempts: {err}"
            ));
        }
        tracing::debug!(attempt, error = %err, "notify attempt failed, will retry later");
        tokio::time::sleep(wait).await;
    }
}
