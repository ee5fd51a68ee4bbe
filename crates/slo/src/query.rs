//! Query text helpers: the `{{.window}}` placeholder, durations in Prometheus's
//! notation, turning OpenSLO counter selectors and histogram thresholds into
//! windowed rate queries, and PromQL string quoting.

use regex::Regex;
use std::sync::OnceLock;

fn window_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Sloth accepts Go-template spacing variants, so do we.
    RE.get_or_init(|| Regex::new(r"\{\{-?\s*\.window\s*-?\}\}").expect("static regex"))
}

/// Whether the query has a `{{.window}}` placeholder.
pub fn has_window(q: &str) -> bool {
    window_re().is_match(q)
}

/// Replaces every `{{.window}}` with `window`.
pub fn render_window(q: &str, window: &str) -> String {
    window_re().replace_all(q, window).into_owned()
}

/// Seconds as the shortest Prometheus duration (`300` → `5m`, `86400` → `1d`).
pub fn prom_duration(secs: i64) -> String {
    // Days, not weeks: rule names read `ratio_rate28d` as Sloth writes them.
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= n && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Parses `5m`, `1h`, `30d`, `4w` (a single unit, as spec windows use).
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(unit_at);
    let n: i64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn selector_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // An optional aggregation with an optional grouping clause before or after,
        // around one vector selector (no range, no function).
        Regex::new(
            r#"^\s*(?:(?P<agg>sum|min|max|avg|count)\s*(?P<g1>(?:by|without)\s*\([^()]*\))?\s*\(\s*(?P<sel1>[A-Za-z_:][A-Za-z0-9_:]*\s*(?:\{[^{}]*\})?|\{[^{}]*\})\s*\)\s*(?P<g2>(?:by|without)\s*\([^()]*\))?|(?P<sel2>[A-Za-z_:][A-Za-z0-9_:]*\s*(?:\{[^{}]*\})?|\{[^{}]*\}))\s*$"#,
        )
        .expect("static regex")
    })
}

/// An OpenSLO `counter: true` query as a per-second rate over `{{.window}}`.
/// Accepts a vector selector or one aggregation of one; a bare selector is summed so
/// numerator and denominator match whatever labels the series carry.
pub fn counter_to_rate(q: &str) -> Result<String, String> {
    if has_window(q) {
        return Ok(q.to_string());
    }
    let c = selector_re().captures(q).ok_or_else(|| {
        "a counter query must be a vector selector, an aggregation of one \
         (e.g. sum(x{a=\"b\"})), or contain {{.window}}"
            .to_string()
    })?;
    if let Some(sel) = c.name("sel2") {
        return Ok(format!(
            "sum(rate({}[{{{{.window}}}}]))",
            sel.as_str().trim()
        ));
    }
    let agg = &c["agg"];
    let sel = c["sel1"].trim();
    let grouping = c
        .name("g1")
        .or_else(|| c.name("g2"))
        .map(|g| format!(" {}", g.as_str().trim()))
        .unwrap_or_default();
    Ok(format!("{agg}{grouping} (rate({sel}[{{{{.window}}}}]))"))
}

/// An OpenSLO `counter: false` query (a gauge of events per second) averaged over
/// the window with a subquery, which works for any expression.
pub fn gauge_to_rate(q: &str) -> String {
    if has_window(q) {
        q.to_string()
    } else {
        format!("avg_over_time(({q})[{{{{.window}}}}:])")
    }
}

/// Good and total queries for "requests faster than `threshold` seconds" from a
/// classic histogram. `matchers` is the inside of `{…}` (may be empty).
pub fn latency_queries(histogram: &str, matchers: &str, threshold: f64) -> (String, String) {
    let m = matchers.trim();
    let sep = if m.is_empty() { "" } else { "," };
    // Prometheus 3 normalises `le` values to float text ("1.0"), Prometheus 2 keeps
    // what the exporter wrote ("1"); match both spellings of the bucket bound.
    let le = le_regex(threshold);
    let good = format!(
        "sum(rate({histogram}_bucket{{{m}{sep}le=~{}}}[{{{{.window}}}}]))",
        quote(&le)
    );
    let total = format!("sum(rate({histogram}_count{{{m}}}[{{{{.window}}}}]))");
    (good, total)
}

fn le_regex(t: f64) -> String {
    let text = format!("{t}");
    let escaped = regex::escape(&text);
    if text.contains('.') || text.contains('e') {
        escaped
    } else {
        format!("{escaped}(\\.0)?")
    }
}

/// A PromQL double-quoted string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as PromQL text that parses back to the same value (Rust prints the
/// shortest round-tripping decimal, never an exponent PromQL would misread).
pub fn float(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_placeholder_variants() {
        assert_eq!(render_window("rate(x[{{.window}}])", "5m"), "rate(x[5m])");
        assert_eq!(render_window("rate(x[{{ .window }}])", "1h"), "rate(x[1h])");
    }

    #[test]
    fn durations() {
        assert_eq!(prom_duration(300), "5m");
        assert_eq!(prom_duration(86_400 * 30), "30d");
        assert_eq!(prom_duration(7_200), "2h");
        assert_eq!(parse_duration("28d"), Some(28 * 86_400));
        assert_eq!(parse_duration("4w"), Some(28 * 86_400));
        assert_eq!(parse_duration("1M"), None);
    }

    #[test]
    fn counters_become_rates() {
        assert_eq!(
            counter_to_rate(r#"sum(req{code=~"2xx|3xx"})"#).unwrap(),
            r#"sum (rate(req{code=~"2xx|3xx"}[{{.window}}]))"#
        );
        assert_eq!(
            counter_to_rate(r#"req{code="total"}"#).unwrap(),
            r#"sum(rate(req{code="total"}[{{.window}}]))"#
        );
        assert_eq!(
            counter_to_rate("sum by (a) (req)").unwrap(),
            "sum by (a) (rate(req[{{.window}}]))"
        );
        assert!(counter_to_rate("rate(x[5m]) / 2").is_err());
    }

    #[test]
    fn latency_buckets() {
        let (g, t) = latency_queries("http_duration_seconds", r#"job="a""#, 1.0);
        assert_eq!(
            g,
            r#"sum(rate(http_duration_seconds_bucket{job="a",le=~"1(\\.0)?"}[{{.window}}]))"#
        );
        assert_eq!(
            t,
            r#"sum(rate(http_duration_seconds_count{job="a"}[{{.window}}]))"#
        );
    }
}
