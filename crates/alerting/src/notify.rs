//! What receivers implement: the [`Notifier`] trait, the context a
//! notification is sent in, and the error split that drives retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::alert::{Alert, LabelMap};
use crate::nflog::ReceiverKey;

/// A failed delivery. Retryable errors (timeouts, 5xx, 429) are tried again
/// with backoff until the group's next flush; permanent ones (4xx, bad
/// configuration) stop the attempt at once.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NotifyError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

impl NotifyError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, NotifyError::Retryable(_))
    }
}

/// What a receiver knows about the notification it sends.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyContext {
    pub group_key: String,
    pub group_labels: LabelMap,
    /// The receiver and integration being notified.
    pub receiver: ReceiverKey,
    pub repeat_interval: Duration,
    /// The flush time.
    pub now: DateTime<Utc>,
    /// Why this notification goes out, in Alertmanager's words
    /// ([`NotifyReason::as_str`]); templates see it as `.NotificationReason`
    /// and the webhook message as `notification_reason`.
    pub notification_reason: String,
    /// The labels of the group's route (`labels:` on the route and its
    /// parents); templates see them as `.RouteLabels`.
    pub route_labels: LabelMap,
}

/// Why the dedup stage lets a notification through (Alertmanager's
/// `notify.NotifyReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyReason {
    DoNotNotify,
    FirstNotification,
    NewAlertsInGroup,
    NewResolvedAlerts,
    AllAlertsResolved,
    RepeatIntervalElapsed,
    Unknown,
}

impl NotifyReason {
    pub fn should_notify(self) -> bool {
        self != NotifyReason::DoNotNotify
    }

    /// Alertmanager's `NotifyReason.String()`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyReason::DoNotNotify => "none",
            NotifyReason::FirstNotification => "first notification",
            NotifyReason::NewAlertsInGroup => "new alerts added",
            NotifyReason::NewResolvedAlerts => "some alerts resolved",
            NotifyReason::AllAlertsResolved => "all alerts resolved",
            NotifyReason::RepeatIntervalElapsed => "repeat interval elapsed",
            NotifyReason::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for NotifyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `alerts` (firing ones with no end time, resolved ones with
    /// theirs, in Alertmanager's order).
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError>;
}

/// One configured integration of a receiver (one `webhook_configs` entry).
#[derive(Clone)]
pub struct Integration {
    /// Integration kind as Alertmanager names it: `webhook`, `slack`, …
    pub name: String,
    /// Position among the receiver's integrations of this kind.
    pub index: u32,
    pub send_resolved: bool,
    pub notifier: Arc<dyn Notifier>,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("send_resolved", &self.send_resolved)
            .finish()
    }
}

/// Integrations per receiver name. A receiver absent here (or with none)
/// accepts every notification without sending anything, as a receiver
/// without configs does in Alertmanager.
pub type Receivers = HashMap<String, Vec<Integration>>;

/// Retry delays: exponential, starting at `initial`, growing by
/// `multiplier`, capped at `max` (Alertmanager's backoff defaults). Jitter
/// is left out so that timelines are reproducible.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub multiplier: f64,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            multiplier: 1.5,
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::from_millis(500));
        assert_eq!(b.delay(2), Duration::from_millis(750));
        assert_eq!(b.delay(100), Duration::from_secs(60));
    }
}
