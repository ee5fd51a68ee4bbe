//! Alertmanager-compatible alert routing and notification.
