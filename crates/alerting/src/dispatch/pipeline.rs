//! The notification pipeline a flush runs, as Alertmanager's stages
//! (`notify/notify.go`): inhibit → time active → time mute → silence →
//! fan-out to the receiver's integrations, each with dedup (against the
//! notification log) → retry with backoff until the next flush is due →
//! record in the notification log. Every outcome is written to the alert
//! history.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::group::AggrGroup;
use super::{history, Core};
use crate::alert::Alert;
use crate::nflog::{needs_update, ReceiverKey};
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

/// Runs the pipeline; true when the flush counts as delivered (including
/// when every alert was muted, as in Alertmanager).
pub(crate) async fn run(core: &Arc<Core>, f: Flush<'_>) -> bool {
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
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, group = %f.group.key, "time interval check failed");
                return false;
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
        return true;
    }

    // Fan-out.
    let integrations = cfg
        .receivers
        .get(&f.group.opts.receiver)
        .cloned()
        .unwrap_or_default();
    let mut tasks = JoinSet::new();
    for integration in integrations {
        let ctx = NotifyContext {
            group_key: f.group.key.clone(),
            group_labels: f.group.labels.clone(),
            receiver: ReceiverKey {
                receiver: f.group.opts.receiver.clone(),
                integration: integration.name.clone(),
                index: integration.index,
            },
            repeat_interval: f.group.opts.repeat_interval,
            now: f.now,
        };
        tasks.spawn(notify_integration(
            core.clone(),
            ctx,
            integration,
            alerts.clone(),
            f.deadline,
        ));
    }
    let mut delivered = true;
    while let Some(r) = tasks.join_next().await {
        delivered &= matches!(r, Ok(true));
    }
    delivered
}

/// Dedup, retry and log for one integration; true on success (including
/// "nothing new to send").
async fn notify_integration(
    core: Arc<Core>,
    ctx: NotifyContext,
    integration: Integration,
    alerts: Vec<Alert>,
    deadline: Instant,
) -> bool {
    let hashes = |resolved: bool| -> BTreeSet<u64> {
        alerts
            .iter()
            .filter(|a| a.ends_at.is_some() == resolved)
            .map(|a| a.fingerprint().0)
            .collect()
    };
    let (firing, resolved) = (hashes(false), hashes(true));
    let entry = core.nflog.query(&ctx.group_key, &ctx.receiver);
    if !needs_update(
        entry.as_ref(),
        &firing,
        &resolved,
        integration.send_resolved,
        ctx.repeat_interval,
        ctx.now,
    ) {
        return true;
    }
    // Without send_resolved only firing alerts go out; a flush of resolved
    // alerts alone is logged as sent so the log forgets them.
    let to_send: Vec<Alert> = if integration.send_resolved {
        alerts.clone()
    } else if firing.is_empty() {
        Vec::new()
    } else {
        alerts
            .iter()
            .filter(|a| a.ends_at.is_none())
            .cloned()
            .collect()
    };
    let outcome = if to_send.is_empty() {
        Ok(())
    } else {
        send_with_retry(&core, &ctx, &integration, &to_send, deadline).await
    };
    let outcome = match outcome {
        Ok(()) => core
            .nflog
            .log(
                &ctx.group_key,
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
    let now = core.now();
    let kind = match outcome {
        Ok(()) => HistoryKind::NotificationSent,
        Err(_) => HistoryKind::NotificationFailed,
    };
    let integration_name = format!("{}[{}]", integration.name, integration.index);
    let events: Vec<HistoryEvent> = to_send
        .iter()
        .map(|a| HistoryEvent {
            receiver: Some(ctx.receiver.receiver.clone()),
            integration: Some(integration_name.clone()),
            error: outcome.as_ref().err().cloned(),
            ..history(now, kind, a, Vec::new())
        })
        .collect();
    core.record(events).await;
    if let Err(e) = &outcome {
        tracing::warn!(error = %e, group = %ctx.group_key, "notify for alerts failed");
    }
    outcome.is_ok()
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
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let call = integration.notifier.notify(ctx, alerts);
        let err = match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if !e.is_retryable() => {
                return Err(format!(
                    "{who}: notify retry canceled due to unrecoverable error after {attempt} attempts: {e}"
                ))
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "context deadline exceeded".to_string(),
        };
        let wait = core.options.retry.delay(attempt);
        if Instant::now() + wait >= deadline {
            return Err(format!(
                "{who}: notify retry canceled after {attempt} attempts: {err}"
            ));
        }
        tracing::debug!(attempt, error = %err, "notify attempt failed, will retry later");
        tokio::time::sleep(wait).await;
    }
}
