//! Multi-window multi-burn-rate alert windows (Google SRE workbook, "Alerting on
//! SLOs", recommended parameters) and how they adapt to SLO periods other than 30d.
//!
//! Sloth's rule, followed here: the alert windows (1h/5m, 6h/30m, 1d/2h, 3d/6h) stay
//! the same for every period; each window pair has a share of the period's error
//! budget it may consume before alerting, and the burn-rate factor is derived from
//! it: `factor = budget_share × period / long_window`. For 30d that gives the
//! workbook's 14.4, 6, 3 and 1; for 28d (same shares) 13.44, 5.6, 2.8 and 0.933.
//! Sloth ships catalogs for 30d and 28d only; for 7d we use the shares of Sloth's
//! documented 7d catalog (`examples/windows/7d.yaml`: 8%, 12.5%, 20%, 42%), which
//! give 13.44, 3.5, 1.4 and 0.98.

use crate::model::TimeWindow;

/// Alert severity of a window pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One window pair of the multi-window alert.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertWindow {
    pub severity: Severity,
    pub long_secs: i64,
    pub short_secs: i64,
    /// Share of the period's error budget (percent) this pair alerts on.
    pub budget_percent: f64,
    /// Burn-rate threshold: how many times faster than "exactly on budget".
    pub factor: f64,
}

/// The four window pairs for an SLO period: page quick, page slow, ticket quick,
/// ticket slow.
pub fn alert_windows(window: TimeWindow) -> [AlertWindow; 4] {
    let days = window.rule_days();
    let shares: [f64; 4] = if days == 7 {
        [8.0, 12.5, 20.0, 42.0]
    } else {
        [2.0, 5.0, 10.0, 10.0]
    };
    let pairs = [
        (Severity::Page, 3_600, 300),
        (Severity::Page, 6 * 3_600, 1_800),
        (Severity::Ticket, 86_400, 2 * 3_600),
        (Severity::Ticket, 3 * 86_400, 6 * 3_600),
    ];
    let period_hours = f64::from(days) * 24.0;
    std::array::from_fn(|i| {
        let (severity, long_secs, short_secs) = pairs[i];
        let long_hours = long_secs as f64 / 3_600.0;
        AlertWindow {
            severity,
            long_secs,
            short_secs,
            budget_percent: shares[i],
            factor: burn_factor(shares[i], period_hours, long_hours),
        }
    })
}

/// The burn rate that consumes `budget_percent` of a `period_hours` budget in
/// `long_hours`.
pub fn burn_factor(budget_percent: f64, period_hours: f64, long_hours: f64) -> f64 {
    budget_percent * period_hours / 100.0 / long_hours
}

/// The windows SLI ratios are recorded for: the alert windows plus the SLO window.
pub fn sli_windows(window: TimeWindow) -> Vec<i64> {
    let mut w = vec![300, 1_800, 3_600, 2 * 3_600, 6 * 3_600, 86_400, 3 * 86_400];
    w.push(window.rule_seconds());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors(w: TimeWindow) -> Vec<f64> {
        alert_windows(w)
            .iter()
            .map(|a| (a.factor * 1e6).round() / 1e6)
            .collect()
    }

    #[test]
    fn thirty_days_are_the_workbook_factors() {
        assert_eq!(
            factors(TimeWindow::Rolling { days: 30 }),
            vec![14.4, 6.0, 3.0, 1.0]
        );
        assert_eq!(
            factors(TimeWindow::CalendarMonth),
            vec![14.4, 6.0, 3.0, 1.0]
        );
    }

    #[test]
    fn other_periods_scale_the_factors_not_the_windows() {
        assert_eq!(
            factors(TimeWindow::Rolling { days: 28 }),
            vec![13.44, 5.6, 2.8, 0.933333]
        );
        assert_eq!(
            factors(TimeWindow::Rolling { days: 7 }),
            vec![13.44, 3.5, 1.4, 0.98]
        );
        let w = alert_windows(TimeWindow::Rolling { days: 7 });
        assert_eq!((w[0].long_secs, w[0].short_secs), (3_600, 300));
        assert_eq!((w[3].long_secs, w[3].short_secs), (3 * 86_400, 6 * 3_600));
    }
}
