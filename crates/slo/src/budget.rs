//! Error-budget arithmetic as pure functions over SLI inputs, so the server can
//! feed them numbers it read with PromQL (or from the recorded `slo:*` series) and
//! tests can check known answers without any storage.
//!
//! Terms: the *error budget* of a window is `(1 − objective) × events` bad events,
//! or `(1 − objective) × window` of full outage. *Consumed* is the share of it spent
//! so far; a *burn rate* of 1 spends exactly the budget over the window.

use crate::model::BudgetPolicy;

/// What is known about an SLO's window at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetInput {
    /// Objective as a ratio, e.g. `0.999`.
    pub objective: f64,
    /// SLO window length in seconds.
    pub window_secs: f64,
    /// Events seen in the window so far.
    pub total_events: f64,
    /// Bad events seen in the window so far.
    pub bad_events: f64,
    /// Current traffic, events per second (for time-at-current-traffic figures).
    pub current_rate: f64,
    /// Current error ratio over the burn window used for projections (e.g. 1h).
    pub current_error_ratio: f64,
}

/// Budget-policy state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyState {
    Healthy,
    Warning,
    Exhausted,
}

impl PolicyState {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyState::Healthy => "healthy",
            PolicyState::Warning => "warning",
            PolicyState::Exhausted => "exhausted",
        }
    }

    /// A number for the `pharos_slo_policy_state` series: 0, 1, 2.
    pub fn as_f64(self) -> f64 {
        match self {
            PolicyState::Healthy => 0.0,
            PolicyState::Warning => 1.0,
            PolicyState::Exhausted => 2.0,
        }
    }
}

/// Everything the budget engine reports for one SLO at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetReport {
    /// SLI over the window (good / total); 1 with no traffic (nothing failed).
    pub sli: f64,
    /// Error budget as a ratio of events (`1 − objective`).
    pub budget_ratio: f64,
    /// Error budget in bad events for the traffic seen so far.
    pub budget_events: f64,
    /// Error budget as full-outage time over the window, seconds.
    pub budget_secs: f64,
    /// Share of the budget spent (may exceed 1).
    pub consumed_ratio: f64,
    pub consumed_events: f64,
    /// Consumed budget as full-outage time, seconds.
    pub consumed_secs: f64,
    /// Share of the budget left (`1 − consumed`, may go negative).
    pub remaining_ratio: f64,
    pub remaining_events: f64,
    /// How long a full outage at the current traffic could last before the budget
    /// is gone; `None` without traffic.
    pub remaining_secs_at_current_traffic: Option<f64>,
    /// Burn rate of the current error ratio.
    pub current_burn_rate: f64,
    /// Time until the budget is gone at the current burn; `None` when not burning
    /// (or already exhausted: then 0).
    pub exhaustion_secs: Option<f64>,
    pub state: PolicyState,
    /// Releases should stop: the budget is exhausted.
    pub freeze: bool,
}

/// Error ratio of `bad` over `total`; 0 with no traffic (nothing failed, so
/// nothing of the budget is spent and nothing divides by zero).
pub fn error_ratio(bad: f64, total: f64) -> f64 {
    if total > 0.0 {
        (bad / total).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Burn rate of an error ratio against an objective: 1 spends exactly the budget
/// over the SLO window. An objective of 100% has no budget; any error burns
/// infinitely fast then.
pub fn burn_rate(error_ratio: f64, objective: f64) -> f64 {
    let budget = crate::model::tidy(1.0 - objective);
    if budget <= 0.0 {
        if error_ratio > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    } else {
        error_ratio / budget
    }
}

/// Share of the budget consumed by an error ratio over the whole window.
pub fn consumed_ratio(error_ratio: f64, objective: f64) -> f64 {
    burn_rate(error_ratio, objective)
}

/// Seconds until a budget with `remaining_ratio` left runs out at `burn` over a
/// window of `window_secs`; `None` when not burning, 0 when already spent.
pub fn exhaustion_secs(remaining_ratio: f64, burn: f64, window_secs: f64) -> Option<f64> {
    if remaining_ratio <= 0.0 {
        return Some(0.0);
    }
    if burn.is_finite() && burn > 0.0 {
        Some(remaining_ratio * window_secs / burn)
    } else if burn == f64::INFINITY {
        Some(0.0)
    } else {
        None
    }
}

/// The policy state for a share of budget remaining: healthy above `warning_below`,
/// warning down to `exhausted_below`, exhausted below it.
pub fn policy_state(remaining_ratio: f64, policy: &BudgetPolicy) -> PolicyState {
    if remaining_ratio < policy.exhausted_below {
        PolicyState::Exhausted
    } else if remaining_ratio <= policy.warning_below {
        PolicyState::Warning
    } else {
        PolicyState::Healthy
    }
}

/// Zero for values within float rounding of it.
fn snap(v: f64) -> f64 {
    if v.abs() < 1e-9 {
        0.0
    } else {
        v
    }
}

/// The full report for one SLO.
pub fn report(input: &BudgetInput, policy: &BudgetPolicy) -> BudgetReport {
    let budget_ratio = crate::model::tidy(1.0 - input.objective).max(0.0);
    let err = error_ratio(input.bad_events, input.total_events);
    let consumed = consumed_ratio(err, input.objective);
    // `1 - 0.999` is not exactly 0.001 in binary; without snapping, spending
    // exactly the budget would leave a ghost remainder of ~1e-15.
    let remaining = snap(1.0 - consumed);
    let budget_events = budget_ratio * input.total_events.max(0.0);
    let budget_secs = budget_ratio * input.window_secs;
    let remaining_events = budget_events - input.bad_events.max(0.0);
    let burn = burn_rate(input.current_error_ratio.max(0.0), input.objective);
    let state = policy_state(remaining, policy);
    BudgetReport {
        sli: 1.0 - err,
        budget_ratio,
        budget_events,
        budget_secs,
        consumed_ratio: consumed,
        consumed_events: input.bad_events.max(0.0),
        consumed_secs: if consumed.is_finite() {
            consumed * budget_secs
        } else {
            budget_secs
        },
        remaining_ratio: remaining,
        remaining_events,
        remaining_secs_at_current_traffic: (input.current_rate > 0.0)
            .then(|| remaining_events.max(0.0) / input.current_rate),
        current_burn_rate: burn,
        exhaustion_secs: exhaustion_secs(remaining, burn, input.window_secs),
        state,
        freeze: state == PolicyState::Exhausted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: f64 = 86_400.0;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn input(bad: f64, total: f64) -> BudgetInput {
        BudgetInput {
            objective: 0.999,
            window_secs: 30.0 * DAY,
            total_events: total,
            bad_events: bad,
            current_rate: 10.0,
            current_error_ratio: 0.0,
        }
    }

    #[test]
    fn exactly_the_budget_is_fully_consumed() {
        let r = report(&input(1_000.0, 1_000_000.0), &BudgetPolicy::default());
        assert!(close(r.consumed_ratio, 1.0), "{}", r.consumed_ratio);
        assert!(close(r.remaining_ratio, 0.0));
        assert!(close(r.budget_events, 1_000.0));
        assert!(close(r.consumed_events, 1_000.0));
        // 0.1% of 30 days is 43.2 minutes of full outage.
        assert!(close(r.budget_secs, 43.2 * 60.0));
        assert!(close(r.consumed_secs, 43.2 * 60.0));
        assert!(close(r.sli, 0.999));
        assert_eq!(r.state, PolicyState::Exhausted);
        assert!(r.freeze);
        assert_eq!(r.exhaustion_secs, Some(0.0));
    }

    #[test]
    fn no_traffic_spends_nothing_and_never_divides_by_zero() {
        let mut i = input(0.0, 0.0);
        i.current_rate = 0.0;
        let r = report(&i, &BudgetPolicy::default());
        assert_eq!(r.sli, 1.0);
        assert_eq!(r.consumed_ratio, 0.0);
        assert_eq!(r.remaining_ratio, 1.0);
        assert_eq!(r.remaining_secs_at_current_traffic, None);
        assert_eq!(r.exhaustion_secs, None);
        assert_eq!(r.state, PolicyState::Healthy);
        assert!(!r.freeze);
    }

    #[test]
    fn policy_thresholds() {
        let p = BudgetPolicy::default();
        assert_eq!(policy_state(0.5, &p), PolicyState::Healthy);
        assert_eq!(policy_state(0.25, &p), PolicyState::Warning);
        assert_eq!(policy_state(0.10, &p), PolicyState::Warning);
        assert_eq!(policy_state(0.0999, &p), PolicyState::Exhausted);
        let custom = BudgetPolicy {
            warning_below: 0.5,
            exhausted_below: 0.2,
        };
        assert_eq!(policy_state(0.3, &custom), PolicyState::Warning);
        assert_eq!(policy_state(0.1, &custom), PolicyState::Exhausted);
    }

    #[test]
    fn burn_rates_and_projection() {
        // 1.44% errors against a 0.1% budget burn at 14.4x.
        assert!(close(burn_rate(0.0144, 0.999), 14.4));
        // Half the budget left at 14.4x over 30d: 0.5 × 30d / 14.4 = 25h.
        let t = exhaustion_secs(0.5, 14.4, 30.0 * DAY).unwrap();
        assert!(close(t, 25.0 * 3_600.0));
        let mut i = input(250.0, 1_000_000.0);
        i.current_error_ratio = 0.0144;
        let r = report(&i, &BudgetPolicy::default());
        assert!(close(r.remaining_ratio, 0.75));
        assert_eq!(r.state, PolicyState::Healthy);
        assert!(close(r.exhaustion_secs.unwrap(), 0.75 * 30.0 * DAY / 14.4));
        // 750 bad events left at 10 events/s of full outage: 75 s.
        assert!(close(r.remaining_secs_at_current_traffic.unwrap(), 75.0));
    }

    #[test]
    fn shorter_windows_have_smaller_time_budgets() {
        let mut i = input(700.0, 1_000_000.0);
        i.window_secs = 7.0 * DAY;
        let r = report(&i, &BudgetPolicy::default());
        assert!(close(r.budget_secs, 0.001 * 7.0 * DAY));
        assert!(close(r.consumed_ratio, 0.7));
        assert_eq!(r.state, PolicyState::Healthy);
        i.window_secs = 28.0 * DAY;
        i.bad_events = 800.0;
        let r = report(&i, &BudgetPolicy::default());
        assert!(close(r.budget_secs, 0.001 * 28.0 * DAY));
        assert_eq!(r.state, PolicyState::Warning);
    }
}
