//! The `anchored` and `smoothed` range-selector modifiers (Prometheus 3.x, behind its
//! extended-range-selectors flag).
//!
//! An anchored window also sees the last sample before its start (up to the lookback
//! delta back), and takes that sample as the value at the start. A smoothed window also
//! sees samples up to the lookback delta after its end, and takes the values at both
//! edges by linear interpolation. A smoothed instant selector interpolates between the
//! samples around the evaluation time.

use super::syntax::Extension;
use crate::value::Point;

/// Index of the first point with `t > after` among the first `n` points (`n` if none),
/// Go's `sort.Search(n, …)`.
fn first_after(points: &[Point], n: usize, after: i64) -> usize {
    points[..n.min(points.len())].partition_point(|p| p.t <= after)
}

fn first_at_or_after(points: &[Point], n: usize, at: i64) -> usize {
    points[..n.min(points.len())].partition_point(|p| p.t < at)
}

/// The value at `t` on the line through two points; for a counter that reset in
/// between, the line starts from zero.
fn interpolate(p1: Point, p2: Point, t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && p2.v < p1.v { 0.0 } else { p1.v };
    y1 + (p2.v - y1) * (t as f64 - p1.t as f64) / (p2.t as f64 - p1.t as f64)
}

fn left_value(points: &[Point], first: usize, start: i64, smoothed: bool, is_counter: bool) -> f64 {
    match (points.get(first), points.get(first + 1)) {
        (Some(a), Some(b)) if smoothed && a.t < start => interpolate(*a, *b, start, is_counter),
        (Some(a), _) => a.v,
        _ => f64::NAN,
    }
}

fn right_value(points: &[Point], last: usize, end: i64, smoothed: bool, is_counter: bool) -> f64 {
    match points.get(last) {
        Some(b) if smoothed && last > 0 && b.t > end => {
            interpolate(points[last - 1], *b, end, is_counter)
        }
        Some(b) => b.v,
        None => f64::NAN,
    }
}

/// `rate`, `increase` or `delta` over an anchored or smoothed window `(start, end]`,
/// whose `points` include the extra samples the modifier lets in.
pub(crate) fn extended_rate(
    points: &[Point],
    start: i64,
    end: i64,
    ext: Extension,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let smoothed = ext == Extension::Smoothed;
    let mut last = points.len() - 1;
    let first = first_after(points, last, start).saturating_sub(1);
    if smoothed {
        last = first_at_or_after(points, last, end);
    }
    if points[last].t <= start || (smoothed && points[first].t > end) {
        return None;
    }
    let left = left_value(points, first, start, smoothed, is_counter);
    let right = right_value(points, last, end, smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        // Resets at the edges are already in the edge values; only samples inside the
        // window can add more.
        let lo = if points[first].t <= start {
            first + 1
        } else {
            first
        };
        let hi = if points[last].t >= end {
            last
        } else {
            last + 1
        };
        let inner = if lo < hi { &points[lo..hi] } else { &[] };
        let mut correction = 0.0;
        let mut prev = left;
        for p in inner {
            if p.v < prev {
                correction += prev;
            }
            prev = p.v;
        }
        if right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= range_secs(start, end);
    }
    Some(result)
}

fn range_secs(start: i64, end: i64) -> f64 {
    (end as f64 - start as f64) / 1000.0
}

/// For `changes` and `resets` over an anchored window: the points from the last one at
/// or before the window start on, or `None` if no point lies inside the window.
pub(crate) fn anchored_points(points: &[Point], start: i64) -> Option<&[Point]> {
    let inside = points.partition_point(|p| p.t <= start);
    if inside >= points.len() {
        return None;
    }
    Some(&points[inside.saturating_sub(1)..])
}

/// The value of a smoothed instant selector at `t` from the points around it.
pub(crate) fn smoothed_value(points: &[Point], t: i64) -> Option<f64> {
    let i = points.partition_point(|p| p.t < t);
    match (i.checked_sub(1).and_then(|j| points.get(j)), points.get(i)) {
        (_, Some(next)) if next.t == t => Some(next.v),
        (Some(prev), Some(next)) => Some(interpolate(*prev, *next, t, false)),
        (Some(prev), None) => Some(prev.v),
        _ => None,
    }
}

/// A range vector returned by an anchored or smoothed selector: the window's inner
/// points framed by the values at its two edges.
pub(crate) fn extend_points(points: &[Point], start: i64, end: i64, ext: Extension) -> Vec<Point> {
    if points.is_empty() {
        return Vec::new();
    }
    let smoothed = ext == Extension::Smoothed;
    let mut last = points.len() - 1;
    let mut first = first_after(points, last, start).saturating_sub(1);
    if smoothed {
        last = first_at_or_after(points, last, end);
    }
    if points[last].t <= start {
        return Vec::new();
    }
    let left = left_value(points, first, start, smoothed, false);
    let right = right_value(points, last, end, smoothed, false);
    if points[first].t <= start {
        first += 1;
    }
    let mut out = vec![Point { t: start, v: left }];
    let upper = if points[last].t >= end {
        last
    } else {
        last + 1
    };
    if first < upper {
        out.extend_from_slice(&points[first..upper]);
    }
    out.push(Point { t: end, v: right });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn anchored_increase_uses_the_sample_before_the_window() {
        // Samples every 15s from 1; a 1m window ending at 50s, anchored.
        let p = pts(&[(0, 1.0), (15_000, 2.0), (30_000, 3.0), (45_000, 4.0)]);
        assert_eq!(
            extended_rate(&p, -10_000, 50_000, Extension::Anchored, true, false),
            Some(3.0)
        );
    }

    #[test]
    fn smoothed_selector_interpolates() {
        let p = pts(&[(0, 1.0), (10_000, 2.0), (20_000, 3.0)]);
        assert_eq!(smoothed_value(&p, 15_000), Some(2.5));
        assert_eq!(smoothed_value(&p, 10_000), Some(2.0));
        assert_eq!(smoothed_value(&p, 25_000), Some(3.0));
        assert_eq!(smoothed_value(&pts(&[(10_000, 1.0)]), 5_000), None);
    }
}
