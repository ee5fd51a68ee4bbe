//! The error-budget engine's measurements: event counts and error ratios of an SLO's
//! indicator over any span of time, read with PromQL from the SLI queries themselves
//! (not from the recorded `slo:*` series, which only exist since the rules started),
//! and the budget status of an SLO at any instant.
//!
//! Counting: an event query is a per-second rate over `{{.window}}`, so the events
//! of a span `[a, b)` are `sum(query[b − a]) × (b − a)` evaluated at `b`. Maintenance
//! periods are cut out of a span before measuring: the span is split into the parts
//! outside maintenance and their counts are added, so errors inside a maintenance
//! window never reach the budget. A raw error-ratio SLI has no counts; its ratio over
//! a split span is the duration-weighted mean of the parts.
//!
//! No traffic: a span without events (or whose queries return nothing) has error
//! ratio 0 and SLI 1 — nothing failed, so nothing of the budget is spent.

use chrono::{Datelike, TimeZone, Utc};
use pharos_slo::budget::{self, BudgetInput, PolicyState};
use pharos_slo::model::{EventKind, QueryTemplate, Sli, Slo, TimeWindow};
use pharos_slo::query::prom_duration;

/// The alert windows burn rates are reported for, in seconds.
pub const BURN_WINDOWS: [i64; 7] = [300, 1_800, 3_600, 7_200, 21_600, 86_400, 259_200];

/// The window the current burn (for projections) is measured over: the page alert's
/// long window.
const CURRENT_WINDOW_SECS: i64 = 3_600;

/// How SLI queries reach the data.
pub trait SliQuery: Send + Sync {
    /// `agg(expr)` at `t_ms` (agg is `sum` or `max`); `None` when it returns nothing.
    fn value(&self, agg: &str, expr: &str, t_ms: i64) -> Result<Option<f64>, String>;

    /// `agg(expr)` at every step from `start_ms` to `end_ms`; steps without a value
    /// are absent.
    fn values(
        &self,
        agg: &str,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, f64)>, String>;
}

/// What was measured over a span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    Events {
        total: f64,
        bad: f64,
    },
    /// A raw error ratio (no event counts known).
    Ratio(f64),
}

impl Measure {
    /// Counts from a total and the events query's result (`None`: it returned
    /// nothing). With traffic and no good-events result everything failed, as the
    /// generated rules record it.
    fn of_events(kind: EventKind, total: f64, events: Option<f64>) -> Measure {
        let bad = match kind {
            EventKind::Bad => events.unwrap_or(0.0),
            EventKind::Good => (total - events.unwrap_or(0.0)).max(0.0),
        };
        Measure::Events {
            total,
            bad: bad.min(total),
        }
    }

    pub fn error_ratio(&self) -> f64 {
        match *self {
            Measure::Events { total, bad } => budget::error_ratio(bad, total),
            Measure::Ratio(r) => r.clamp(0.0, 1.0),
        }
    }

    pub fn counts(&self) -> Option<(f64, f64)> {
        match *self {
            Measure::Events { total, bad } => Some((total, bad)),
            Measure::Ratio(_) => None,
        }
    }
}

/// `[a, b)` minus every maintenance period, as disjoint spans in order.
pub fn spans_outside_maintenance(slo: &Slo, a_ms: i64, b_ms: i64) -> Vec<(i64, i64)> {
    let mut cuts: Vec<(i64, i64)> = slo
        .maintenance
        .iter()
        .map(|m| (m.start * 1000, m.end * 1000))
        .filter(|&(s, e)| s < b_ms && e > a_ms)
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = a_ms;
    for (s, e) in cuts {
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
    }
    if at < b_ms {
        out.push((at, b_ms));
    }
    out
}

/// Seconds of a span as a PromQL range (whole seconds; shorter spans are not
/// measurable and count as empty).
fn range_secs(a_ms: i64, b_ms: i64) -> Option<i64> {
    let secs = (b_ms - a_ms) / 1000;
    (secs >= 1).then_some(secs)
}

fn events_over(
    q: &dyn SliQuery,
    template: &QueryTemplate,
    secs: i64,
    t_ms: i64,
) -> Result<Option<f64>, String> {
    let expr = template.render(&format!("{secs}s"));
    Ok(q.value("sum", &expr, t_ms)?
        .filter(|v| v.is_finite())
        .map(|rate| (rate * secs as f64).max(0.0)))
}

/// Events (or the raw ratio) of one span with no maintenance inside.
fn measure_plain(
    slo: &Slo,
    q: &dyn SliQuery,
    a_ms: i64,
    b_ms: i64,
) -> Result<Option<Measure>, String> {
    let Some(secs) = range_secs(a_ms, b_ms) else {
        return Ok(None);
    };
    match &slo.sli {
        Sli::Events {
            kind,
            events,
            total,
        } => {
            let t = events_over(q, total, secs, b_ms)?.unwrap_or(0.0);
            let e = events_over(q, events, secs, b_ms)?;
            Ok(Some(Measure::of_events(*kind, t, e)))
        }
        Sli::Raw { error_ratio } => {
            let expr = error_ratio.render(&format!("{secs}s"));
            Ok(q.value("max", &expr, b_ms)?
                .filter(|v| v.is_finite())
                .map(Measure::Ratio))
        }
    }
}

/// Adds up measurements of adjacent spans: event counts add, raw ratios average
/// weighted by duration.
#[derive(Default)]
pub struct Accumulator {
    total: f64,
    bad: f64,
    weighted: f64,
    weight: f64,
    any: bool,
    raw: bool,
}

impl Accumulator {
    /// Adds `share` (0..=1) of a span's measurement; `span_ms` weighs a raw ratio.
    pub fn add(&mut self, m: Option<Measure>, share: f64, span_ms: i64) {
        match m {
            Some(Measure::Events { total, bad }) => {
                self.total += total * share;
                self.bad += bad * share;
                self.any = true;
            }
            Some(Measure::Ratio(r)) => {
                let w = span_ms as f64 * share;
                self.weighted += r * w;
                self.weight += w;
                self.any = true;
                self.raw = true;
            }
            None => {}
        }
    }

    pub fn finish(&self) -> Option<Measure> {
        match (self.any, self.raw) {
            (false, _) => None,
            (true, false) => Some(Measure::Events {
                total: self.total,
                bad: self.bad,
            }),
            (true, true) => Some(Measure::Ratio(if self.weight > 0.0 {
                self.weighted / self.weight
            } else {
                0.0
            })),
        }
    }
}

/// What the SLI measured over `[a, b)`, maintenance excluded; `None` when nothing
/// could be measured (no data, or the span lies inside maintenance).
pub fn measure(
    slo: &Slo,
    q: &dyn SliQuery,
    a_ms: i64,
    b_ms: i64,
) -> Result<Option<Measure>, String> {
    let mut acc = Accumulator::default();
    for (a, b) in spans_outside_maintenance(slo, a_ms, b_ms) {
        acc.add(measure_plain(slo, q, a, b)?, 1.0, b - a);
    }
    Ok(acc.finish())
}

/// The SLO window that ends at `t_ms`: `[start, t)` and the budget's full length in
/// seconds (a calendar month's whole length, so the month's budget is fixed).
pub fn window_at(window: TimeWindow, t_ms: i64) -> (i64, f64) {
    match window {
        TimeWindow::Rolling { days } => {
            let secs = i64::from(days) * 86_400;
            (t_ms - secs * 1000, secs as f64)
        }
        TimeWindow::CalendarMonth => {
            let now = Utc
                .timestamp_millis_opt(t_ms)
                .single()
                .unwrap_or_else(Utc::now);
            let start = Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
            let (ny, nm) = if now.month() == 12 {
                (now.year() + 1, 1)
            } else {
                (now.year(), now.month() + 1)
            };
            let next = Utc
                .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
            (
                start.timestamp_millis(),
                (next - start).num_seconds() as f64,
            )
        }
    }
}

/// An SLO's budget status at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub at_ms: i64,
    pub window_start_ms: i64,
    pub window_secs: f64,
    /// Event counts over the window, when the SLI has them.
    pub counts: Option<(f64, f64)>,
    /// `(window seconds, burn rate)` for each of [`BURN_WINDOWS`].
    pub burn_rates: Vec<(i64, f64)>,
    /// Events per second over the last hour (0 for a raw-ratio SLI).
    pub current_rate: f64,
    pub budget: budget::BudgetReport,
}

impl Status {
    pub fn window_name(secs: i64) -> String {
        prom_duration(secs)
    }

    /// How long `events` last at the current traffic, in seconds of full outage.
    pub fn secs_at_current_traffic(&self, events: f64) -> Option<f64> {
        (self.counts.is_some() && self.current_rate > 0.0).then(|| events / self.current_rate)
    }
}

/// The budget status of `slo` at `t_ms`, every span measured with direct queries.
pub fn status(slo: &Slo, q: &dyn SliQuery, t_ms: i64) -> Result<Status, String> {
    status_with(slo, t_ms, &mut |a, b| measure(slo, q, a, b))
}

/// Measures the SLI over `[a, b)`.
pub type Measurer<'a> = dyn FnMut(i64, i64) -> Result<Option<Measure>, String> + 'a;

/// The budget status of `slo` at `t_ms`, every span ending at `t_ms` measured by
/// `measure_span`.
pub fn status_with(
    slo: &Slo,
    t_ms: i64,
    measure_span: &mut Measurer<'_>,
) -> Result<Status, String> {
    let (start, window_secs) = window_at(slo.window, t_ms);
    let over_window = measure_span(start, t_ms)?;
    let objective = slo.objective_ratio();
    let mut burn_rates = Vec::with_capacity(BURN_WINDOWS.len());
    let mut current = None;
    for secs in BURN_WINDOWS {
        let m = measure_span(t_ms - secs * 1000, t_ms)?;
        let ratio = m.map(|m| m.error_ratio()).unwrap_or(0.0);
        burn_rates.push((secs, budget::burn_rate(ratio, objective)));
        if secs == CURRENT_WINDOW_SECS {
            current = m;
        }
    }
    let current_rate = current
        .and_then(|m| m.counts())
        .map(|(total, _)| total / CURRENT_WINDOW_SECS as f64)
        .unwrap_or(0.0);
    let current_error_ratio = current.map(|m| m.error_ratio()).unwrap_or(0.0);
    let counts = match over_window {
        Some(m) => m.counts(),
        None => match slo.sli {
            Sli::Events { .. } => Some((0.0, 0.0)),
            Sli::Raw { .. } => None,
        },
    };
    let (total_events, bad_events) = match (counts, over_window) {
        (Some(c), _) => c,
        // A raw ratio: a unit of traffic with the ratio's share failing gives every
        // ratio-based figure; event figures are not reported.
        (None, Some(m)) => (1.0, m.error_ratio()),
        (None, None) => (0.0, 0.0),
    };
    let input = BudgetInput {
        objective,
        window_secs,
        total_events,
        bad_events,
        current_rate,
        current_error_ratio,
    };
    Ok(Status {
        at_ms: t_ms,
        window_start_ms: start,
        window_secs,
        counts,
        burn_rates,
        current_rate,
        budget: budget::report(&input, &slo.policy),
    })
}

/// One point of the budget history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryPoint {
    pub t_ms: i64,
    pub sli: f64,
    pub consumed_ratio: f64,
    pub remaining_ratio: f64,
    pub state: PolicyState,
}

/// Most points a history or report query may ask the storage for, as Prometheus
/// bounds range queries.
pub const MAX_POINTS: i64 = 11_000;

/// Per-step measurements `(bucket end, measure of (end − step, end])` from `from_ms`
/// to `to_ms`, read with one range query per SLI query; buckets without data are
/// absent. Maintenance is not considered here.
pub fn raw_buckets(
    slo: &Slo,
    q: &dyn SliQuery,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Result<Vec<(i64, Measure)>, String> {
    if step_ms < 1000 {
        return Err("resolution must be at least 1s".into());
    }
    if (to_ms - from_ms) / step_ms > MAX_POINTS {
        return Err(format!(
            "resolution too fine: more than {MAX_POINTS} points; choose a longer resolution"
        ));
    }
    let secs = step_ms / 1000;
    let w = format!("{secs}s");
    let series = |t: &QueryTemplate, agg: &str| -> Result<Vec<(i64, f64)>, String> {
        q.values(agg, &t.render(&w), from_ms, to_ms, step_ms)
    };
    let mut out = Vec::new();
    match &slo.sli {
        Sli::Events {
            kind,
            events,
            total,
        } => {
            let totals = series(total, "sum")?;
            let ev: std::collections::HashMap<i64, f64> =
                series(events, "sum")?.into_iter().collect();
            for (t, rate) in totals {
                if !rate.is_finite() {
                    continue;
                }
                let total = (rate * secs as f64).max(0.0);
                let e = ev.get(&t).map(|r| (r * secs as f64).max(0.0));
                out.push((t, Measure::of_events(*kind, total, e)));
            }
        }
        Sli::Raw { error_ratio } => {
            for (t, r) in series(error_ratio, "max")? {
                if r.is_finite() {
                    out.push((t, Measure::Ratio(r)));
                }
            }
        }
    }
    Ok(out)
}

/// Whether `(end − step, end]` is clear of maintenance.
pub fn clear_of_maintenance(slo: &Slo, end_ms: i64, step_ms: i64) -> bool {
    spans_outside_maintenance(slo, end_ms - step_ms, end_ms) == vec![(end_ms - step_ms, end_ms)]
}

/// [`raw_buckets`] without the buckets that touch maintenance.
pub fn buckets(
    slo: &Slo,
    q: &dyn SliQuery,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Result<Vec<(i64, Measure)>, String> {
    let mut out = raw_buckets(slo, q, from_ms, to_ms, step_ms)?;
    out.retain(|(end, _)| clear_of_maintenance(slo, *end, step_ms));
    Ok(out)
}

/// The budget as it stood at each step from the current window's start to `to_ms`:
/// each point is the SLO window ending there (month to date for calendar windows).
pub fn history(
    slo: &Slo,
    q: &dyn SliQuery,
    to_ms: i64,
    step_ms: i64,
) -> Result<Vec<HistoryPoint>, String> {
    let (start, window_secs) = window_at(slo.window, to_ms);
    let span_ms = to_ms - start;
    if step_ms > span_ms {
        // Early in a calendar month there is no full step yet.
        if slo.window == TimeWindow::CalendarMonth {
            return Ok(Vec::new());
        }
        return Err(format!(
            "resolution {}s is longer than the window so far ({}s)",
            step_ms / 1000,
            span_ms / 1000
        ));
    }
    // Rolling windows need one window of buckets before the first point.
    let lead = match slo.window {
        TimeWindow::Rolling { .. } => span_ms,
        TimeWindow::CalendarMonth => 0,
    };
    let first = start + step_ms;
    let bs = buckets(slo, q, first - lead, to_ms, step_ms)?;
    let objective = slo.objective_ratio();
    let mut points = Vec::new();
    let mut t = first;
    while t <= to_ms {
        let lo = match slo.window {
            TimeWindow::Rolling { .. } => t - span_ms,
            TimeWindow::CalendarMonth => start,
        };
        let inside = bs.iter().filter(|(e, _)| *e > lo && *e <= t);
        let (mut total, mut bad, mut rsum, mut rn) = (0.0, 0.0, 0.0, 0.0);
        for (_, m) in inside {
            match *m {
                Measure::Events { total: a, bad: b } => {
                    total += a;
                    bad += b;
                }
                Measure::Ratio(r) => {
                    rsum += r;
                    rn += 1.0;
                }
            }
        }
        let (total, bad) = if rn > 0.0 {
            (1.0, rsum / rn)
        } else {
            (total, bad)
        };
        let r = budget::report(
            &BudgetInput {
                objective,
                window_secs,
                total_events: total,
                bad_events: bad,
                current_rate: 0.0,
                current_error_ratio: 0.0,
            },
            &slo.policy,
        );
        points.push(HistoryPoint {
            t_ms: t,
            sli: r.sli,
            consumed_ratio: r.consumed_ratio,
            remaining_ratio: r.remaining_ratio,
            state: r.state,
        });
        t += step_ms;
    }
    Ok(points)
}

/// A resolution for a window's history giving roughly 120 points, rounded up to a
/// readable step.
pub fn default_resolution_ms(window: TimeWindow) -> i64 {
    let (_, secs) = window_at(window, 0);
    let want = (secs / 120.0) as i64;
    const STEPS: [i64; 10] = [
        60, 300, 900, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 604_800,
    ];
    STEPS.into_iter().find(|&s| s >= want).unwrap_or(604_800) * 1000
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::SliQuery;
    use pharos_slo::Slo;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const NOW: i64 = 1_800_000_000_000;

    /// Answers `sum(rate(req…[Ns]))` queries from constant rates: `total_rate` events
    /// per second, `bad_rate` failing, except `burst_bad` failing inside `burst`
    /// (ms). Counts the raw samples a real storage would read at one per minute.
    pub struct Counting {
        pub total_rate: f64,
        pub bad_rate: f64,
        pub burst: (i64, i64),
        pub burst_bad: f64,
        read: AtomicU64,
    }

    impl Counting {
        pub fn new(total_rate: f64, bad_rate: f64, burst: (i64, i64), burst_bad: f64) -> Self {
            Counting {
                total_rate,
                bad_rate,
                burst,
                burst_bad,
                read: AtomicU64::new(0),
            }
        }

        pub fn points(&self) -> u64 {
            self.read.load(Ordering::Relaxed)
        }

        pub fn reset_points(&self) {
            self.read.store(0, Ordering::Relaxed);
        }

        fn count(&self, bad: bool, a: i64, b: i64) -> f64 {
            let secs = (b - a) as f64 / 1000.0;
            let overlap = ((b.min(self.burst.1) - a.max(self.burst.0)).max(0)) as f64 / 1000.0;
            if bad {
                self.bad_rate * (secs - overlap) + self.burst_bad * overlap
            } else {
                self.total_rate * secs
            }
        }

        fn answer(&self, expr: &str, t: i64) -> Option<f64> {
            let secs: i64 = expr.split('[').nth(1)?.split('s').next()?.parse().ok()?;
            self.read.fetch_add((secs / 60) as u64, Ordering::Relaxed);
            let bad = expr.contains("5..");
            Some(self.count(bad, t - secs * 1000, t) / secs as f64)
        }
    }

    impl SliQuery for Counting {
        fn value(&self, _agg: &str, expr: &str, t: i64) -> Result<Option<f64>, String> {
            Ok(self.answer(expr, t))
        }

        fn values(
            &self,
            _agg: &str,
            expr: &str,
            start: i64,
            end: i64,
            step: i64,
        ) -> Result<Vec<(i64, f64)>, String> {
            let mut out = Vec::new();
            let mut t = start;
            while t <= end {
                if let Some(v) = self.answer(expr, t) {
                    out.push((t, v));
                }
                t += step;
            }
            Ok(out)
        }
    }

    pub fn slo(window_days: u32) -> Slo {
        let spec = format!(
            "slos:\n  - service: api\n    name: availability\n    objective: 99.9\n    window: {window_days}d\n    sli:\n      bad_events: sum(rate(req{{code=~\"5..\"}}[{{{{.window}}}}]))\n      total_events: sum(rate(req[{{{{.window}}}}]))\n"
        );
        pharos_slo::load_str(&spec, "t.yml").unwrap().remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{slo, Counting as Synthetic, NOW};
    use super::*;
    use pharos_slo::model::Maintenance;

    const HOUR: i64 = 3_600_000;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn exactly_the_error_budget_is_fully_consumed() {
        let q = Synthetic::new(10.0, 0.01, (0, 0), 0.0);
        let s = status(&slo(30), &q, NOW).unwrap();
        assert!(close(s.budget.consumed_ratio, 1.0), "{:?}", s.budget);
        assert_eq!(s.budget.state, PolicyState::Exhausted);
        assert!(s.budget.freeze);
        let (total, bad) = s.counts.unwrap();
        assert!(close(total, 10.0 * 30.0 * 86_400.0));
        assert!(close(bad, 0.01 * 30.0 * 86_400.0));
        for (_, b) in &s.burn_rates {
            assert!(close(*b, 1.0));
        }
    }

    #[test]
    fn a_burst_burns_the_short_windows_first() {
        let q = Synthetic::new(10.0, 0.0, (NOW - 10 * 60_000, NOW), 1.44 / 10.0 * 10.0);
        let s = status(&slo(30), &q, NOW).unwrap();
        let by: std::collections::HashMap<i64, f64> = s.burn_rates.iter().copied().collect();
        // 14.4% errors for 10 minutes: 144x in 5m, 144 × 10/60 = 24x in 1h.
        assert!(close(by[&300], 144.0), "{}", by[&300]);
        assert!(close(by[&3_600], 24.0), "{}", by[&3_600]);
        assert!(close(s.budget.current_burn_rate, 24.0));
    }

    #[test]
    fn maintenance_leaves_the_budget_untouched() {
        let mut s = slo(7);
        let q = Synthetic::new(10.0, 0.0, (NOW - 3 * HOUR, NOW - 2 * HOUR), 10.0);
        let before = status(&s, &q, NOW).unwrap();
        assert!(before.budget.consumed_ratio > 1.0);
        s.maintenance.push(Maintenance {
            start: (NOW - 3 * HOUR) / 1000,
            end: (NOW - 2 * HOUR) / 1000,
        });
        let after = status(&s, &q, NOW).unwrap();
        assert_eq!(after.budget.consumed_ratio, 0.0);
        assert_eq!(after.budget.state, PolicyState::Healthy);
        // The window's traffic outside maintenance is still counted.
        let (total, _) = after.counts.unwrap();
        assert!(close(total, 10.0 * (7.0 * 86_400.0 - 3_600.0)));
    }

    #[test]
    fn no_traffic_is_a_perfect_sli() {
        struct Empty;
        impl SliQuery for Empty {
            fn value(&self, _: &str, _: &str, _: i64) -> Result<Option<f64>, String> {
                Ok(None)
            }
            fn values(
                &self,
                _: &str,
                _: &str,
                _: i64,
                _: i64,
                _: i64,
            ) -> Result<Vec<(i64, f64)>, String> {
                Ok(Vec::new())
            }
        }
        let s = status(&slo(30), &Empty, NOW).unwrap();
        assert_eq!(s.budget.sli, 1.0);
        assert_eq!(s.budget.remaining_ratio, 1.0);
        assert_eq!(s.counts, Some((0.0, 0.0)));
        assert!(s.burn_rates.iter().all(|(_, b)| *b == 0.0));
    }

    #[test]
    fn spans_skip_maintenance() {
        let mut s = slo(7);
        s.maintenance = vec![
            Maintenance { start: 5, end: 8 },
            Maintenance { start: 2, end: 3 },
            Maintenance { start: 7, end: 9 },
        ];
        assert_eq!(
            spans_outside_maintenance(&s, 0, 10_000),
            vec![(0, 2_000), (3_000, 5_000), (9_000, 10_000)]
        );
        assert_eq!(spans_outside_maintenance(&s, 5_500, 7_500), vec![]);
    }

    #[test]
    fn calendar_months_have_their_own_length() {
        // 2026-02-14T12:00:00Z
        let t = Utc
            .with_ymd_and_hms(2026, 2, 14, 12, 0, 0)
            .unwrap()
            .timestamp_millis();
        let (start, secs) = window_at(TimeWindow::CalendarMonth, t);
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(secs, 28.0 * 86_400.0);
        let (_, dec) = window_at(
            TimeWindow::CalendarMonth,
            Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0)
                .unwrap()
                .timestamp_millis(),
        );
        assert_eq!(dec, 31.0 * 86_400.0);
    }

    #[test]
    fn history_follows_the_rolling_window() {
        let q = Synthetic::new(
            10.0,
            0.0,
            (NOW - 3 * 86_400_000, NOW - 3 * 86_400_000 + HOUR),
            0.1,
        );
        let s = slo(7);
        let h = history(&s, &q, NOW, 6 * HOUR).unwrap();
        assert_eq!(h.len(), 28);
        assert_eq!(h.last().unwrap().t_ms, NOW);
        // Before the burst nothing is consumed; after it, 360 bad of 6.048M events
        // against a 0.1% budget: 5.95%.
        assert_eq!(h[0].consumed_ratio, 0.0);
        let last = h.last().unwrap();
        assert!(close(last.consumed_ratio, 360.0 / (6_048_000.0 * 0.001)));
        assert!(buckets(&s, &q, 0, NOW, 500).is_err());
        assert!(history(&s, &q, NOW, 8 * 86_400_000)
            .unwrap_err()
            .starts_with("resolution"));
        assert!(buckets(&s, &q, 0, NOW, 1_000).is_err());
    }
}
