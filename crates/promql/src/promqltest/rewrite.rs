//! Query rewriting for the implicit re-checks: the `@` variants of an instant eval, and the
//! selectors of a query (to tell whether it reads native-histogram series).

use pharos_model::Labels;
use promql_parser::parser::{self, AtModifier, BinModifier, Expr, LabelModifier, VectorSelector};
use std::time::{Duration, SystemTime};

/// Functions whose result changes with the evaluation time even when every selector is
/// pinned with `@`, so the `@` variants cannot be expected to agree. Upstream's list, plus
/// the query-context functions the README names.
const AT_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    "start",
    "end",
    "range",
    "step",
];

/// What the `@` re-check of an instant eval runs.
#[derive(Debug, Clone, PartialEq)]
pub enum AtVariants {
    /// Run `query` at each of `times` (milliseconds); each must give the eval's expected result.
    Run { query: String, times: Vec<i64> },
    /// Skipped by upstream's rule: the query calls this time-dependent function.
    Unsafe(&'static str),
    /// The rewrite could not be made faithfully (the query does not parse here, or its
    /// printed form does not re-parse to the same tree).
    NotRewritable(String),
}

/// Upstream's extra evaluation times for the `@` variants of an eval at `t_ms`.
pub fn at_eval_times(t_ms: i64) -> Vec<i64> {
    if t_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t_ms, 0, t_ms / 5, t_ms, 10 * t_ms]
    }
}

/// Whether the query has a `\xHH` or octal escape for a byte of 0x80 or more.
fn raw_byte_escape(query: &str) -> bool {
    let b = query.as_bytes();
    b.windows(4).any(|w| {
        w[0] == b'\\'
            && ((w[1] == b'x' && matches!(w[2], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
                || (matches!(w[1], b'2'..=b'3')
                    && matches!(w[2], b'0'..=b'7')
                    && matches!(w[3], b'0'..=b'7')))
    })
}

/// The parser panics on some inputs; a panic must not take the whole run down.
fn parse(query: &str) -> Result<Expr, String> {
    std::panic::catch_unwind(|| parser::parse(query))
        .unwrap_or_else(|_| Err("the parser panicked".to_string()))
}

fn at_modifier(t_ms: i64) -> AtModifier {
    let d = Duration::from_millis(t_ms.unsigned_abs());
    let t = if t_ms >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    };
    AtModifier::At(t)
}

/// Builds the `@` variants of `query` evaluated at `t_ms`: every selector and subquery
/// without a fixed timestamp gets `@ t`. `@ start()`/`@ end()` count as not fixed, since
/// for an instant query both mean the evaluation time. Selectors inside a subquery are left
/// alone (the subquery's own `@` already pins them), and so are calls inside one, which is
/// also how upstream decides whether a time-dependent function is present.
pub fn at_variants(query: &str, t_ms: i64) -> AtVariants {
    // Go reads `"\xff"` as the raw byte 0xff (an invalid string PromQL then rejects) and
    // prints it back escaped; the parser here reads it as the character U+00FF, so a
    // reprinted query would be a different, valid one.
    if raw_byte_escape(query) {
        return AtVariants::NotRewritable(
            "a string holds a raw byte escape, which reprinting would change".into(),
        );
    }
    let mut expr = match parse(query) {
        Ok(e) => e,
        Err(e) => return AtVariants::NotRewritable(format!("query does not parse: {e}")),
    };
    let at = at_modifier(t_ms);
    let mut unsafe_fn = None;
    add_at(&mut expr, &at, &mut unsafe_fn);
    if let Some(f) = unsafe_fn {
        return AtVariants::Unsafe(f);
    }
    let printed = expr.to_string();
    match parse(&printed) {
        Ok(reparsed) if same_query(&reparsed, &expr) => AtVariants::Run {
            query: printed,
            times: at_eval_times(t_ms),
        },
        Ok(_) => AtVariants::NotRewritable(format!(
            "printed form {printed:?} re-parses to a different query"
        )),
        Err(e) => {
            AtVariants::NotRewritable(format!("printed form {printed:?} does not re-parse: {e}"))
        }
    }
}

/// Whether two trees mean the same query. Printing sorts matchers, and the tree's own
/// equality says NaN ≠ NaN (e.g. in `fill(NaN)`), so compare matcher-sorted debug forms.
fn same_query(a: &Expr, b: &Expr) -> bool {
    fn sort_matchers(e: &mut Expr) {
        for_each_selector_mut(e, &mut |vs| {
            let key = |m: &promql_parser::label::Matcher| {
                (m.name.clone(), m.op.to_string(), m.value.clone())
            };
            vs.matchers.matchers.sort_by_key(key);
            for g in vs.matchers.or_matchers.iter_mut() {
                g.sort_by_key(key);
            }
        });
    }
    let (mut a, mut b) = (a.clone(), b.clone());
    sort_matchers(&mut a);
    sort_matchers(&mut b);
    normalize_modifiers(&mut a);
    normalize_modifiers(&mut b);
    format!("{a:?}") == format!("{b:?}")
}

/// `sum by () (x)` prints as `sum(x)` and `a + ignoring() b` as `a + b`: the same
/// operations, different trees.
fn normalize_modifiers(e: &mut Expr) {
    match e {
        Expr::Aggregate(a) => {
            if matches!(&a.modifier, Some(LabelModifier::Include(ls)) if ls.is_empty()) {
                a.modifier = None;
            }
            if let Some(p) = a.param.as_mut() {
                normalize_modifiers(p);
            }
            normalize_modifiers(&mut a.expr);
        }
        Expr::Subquery(sq) => normalize_modifiers(&mut sq.expr),
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| normalize_modifiers(a)),
        Expr::Unary(u) => normalize_modifiers(&mut u.expr),
        Expr::Binary(b) => {
            if let Some(m) = b.modifier.as_mut() {
                if matches!(&m.matching, Some(LabelModifier::Exclude(ls)) if ls.is_empty()) {
                    m.matching = None;
                }
                if *m == BinModifier::default() {
                    b.modifier = None;
                }
            }
            normalize_modifiers(&mut b.lhs);
            normalize_modifiers(&mut b.rhs);
        }
        Expr::Paren(p) => normalize_modifiers(&mut p.expr),
        Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => {}
    }
}

fn for_each_selector_mut(e: &mut Expr, f: &mut dyn FnMut(&mut VectorSelector)) {
    match e {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&mut ms.vs),
        Expr::Subquery(sq) => for_each_selector_mut(&mut sq.expr, f),
        Expr::Call(c) => c
            .args
            .args
            .iter_mut()
            .for_each(|a| for_each_selector_mut(a, f)),
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                for_each_selector_mut(p, f);
            }
            for_each_selector_mut(&mut a.expr, f);
        }
        Expr::Unary(u) => for_each_selector_mut(&mut u.expr, f),
        Expr::Binary(b) => {
            for_each_selector_mut(&mut b.lhs, f);
            for_each_selector_mut(&mut b.rhs, f);
        }
        Expr::Paren(p) => for_each_selector_mut(&mut p.expr, f),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn pin(slot: &mut Option<AtModifier>, at: &AtModifier) {
    if !matches!(slot, Some(AtModifier::At(_))) {
        *slot = Some(at.clone());
    }
}

fn add_at(e: &mut Expr, at: &AtModifier, unsafe_fn: &mut Option<&'static str>) {
    match e {
        Expr::VectorSelector(vs) => pin(&mut vs.at, at),
        Expr::MatrixSelector(ms) => pin(&mut ms.vs.at, at),
        Expr::Subquery(sq) => pin(&mut sq.at, at),
        Expr::Call(c) => {
            if unsafe_fn.is_none() {
                *unsafe_fn = AT_UNSAFE_FUNCTIONS
                    .iter()
                    .copied()
                    .find(|f| *f == c.func.name);
            }
            for a in c.args.args.iter_mut() {
                add_at(a, at, unsafe_fn);
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                add_at(p, at, unsafe_fn);
            }
            add_at(&mut a.expr, at, unsafe_fn);
        }
        Expr::Unary(u) => add_at(&mut u.expr, at, unsafe_fn),
        Expr::Binary(b) => {
            add_at(&mut b.lhs, at, unsafe_fn);
            add_at(&mut b.rhs, at, unsafe_fn);
        }
        Expr::Paren(p) => add_at(&mut p.expr, at, unsafe_fn),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Upstream skips the range-mode re-check of queries using these (plain text match, as
/// upstream does it).
pub fn uses_query_context_functions(query: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| query.contains(f))
}

/// Every vector selector of the query, including those under matrix selectors and subqueries.
pub fn selectors(query: &str) -> Result<Vec<VectorSelector>, String> {
    let expr = parse(query)?;
    let mut out = Vec::new();
    collect_selectors(&expr, &mut out);
    Ok(out)
}

fn collect_selectors(e: &Expr, out: &mut Vec<VectorSelector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs.clone()),
        Expr::MatrixSelector(ms) => out.push(ms.vs.clone()),
        Expr::Subquery(sq) => collect_selectors(&sq.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
            collect_selectors(&a.expr, out);
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Whether the selector selects a series with these labels (a missing label reads as "").
pub fn selector_matches(vs: &VectorSelector, labels: &Labels) -> bool {
    let get = |name: &str| labels.get(name).unwrap_or("");
    if let Some(name) = &vs.name {
        if get(pharos_model::METRIC_NAME) != name {
            return false;
        }
    }
    let all = |ms: &[promql_parser::label::Matcher]| ms.iter().all(|m| m.is_match(get(&m.name)));
    if !all(&vs.matchers.matchers) {
        return false;
    }
    vs.matchers.or_matchers.is_empty() || vs.matchers.or_matchers.iter().any(|g| all(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(query: &str, t: i64) -> (String, Vec<i64>) {
        match at_variants(query, t) {
            AtVariants::Run { query, times } => (query, times),
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn times() {
        assert_eq!(at_eval_times(0), vec![-1000, 0, 1000]);
        assert_eq!(
            at_eval_times(3_000_000),
            vec![-30_000_000, 0, 600_000, 3_000_000, 30_000_000]
        );
    }

    #[test]
    fn pins_selectors_and_subqueries() {
        let (q, _) = run(
            r#"sum by (g) (rate(http_requests{job="a"}[5m]))"#,
            3_000_000,
        );
        assert!(q.contains("[5m] @ 3000.000"), "{q}");
        let (q, _) = run("foo + bar offset 1m", 60_000);
        assert!(q.contains("foo @ 60.000"), "{q}");
        assert!(q.contains("bar @ 60.000 offset 1m"), "{q}");
        // Inside a subquery nothing changes; the subquery itself is pinned.
        let (q, _) = run("max_over_time(rate(foo[1m])[5m:1m])", 600_000);
        assert!(q.contains("foo[1m])[5m:1m] @ 600.000"), "{q}");
        assert_eq!(q.matches('@').count(), 1, "{q}");
        // A fixed @ stays; @ start() becomes the evaluation time.
        let (q, _) = run("foo @ 100 + bar @ start()", 60_000);
        assert!(q.contains("foo @ 100.000"), "{q}");
        assert!(q.contains("bar @ 60.000"), "{q}");
        let (q, _) = run("1 + 2", 0);
        assert_eq!(q, "1 + 2");
    }

    #[test]
    fn unsafe_functions_skip() {
        assert_eq!(
            at_variants("time() - foo", 1000),
            AtVariants::Unsafe("time")
        );
        assert_eq!(
            at_variants("timestamp(foo)", 1000),
            AtVariants::Unsafe("timestamp")
        );
        assert_eq!(
            at_variants("hour(vector(1))", 1000),
            AtVariants::Unsafe("hour")
        );
        // Inside a subquery upstream does not look, and neither do we.
        assert!(matches!(
            at_variants("max_over_time(timestamp(foo)[5m:1m])", 1000),
            AtVariants::Run { .. }
        ));
        assert!(matches!(
            at_variants("foo +", 1000),
            AtVariants::NotRewritable(_)
        ));
        assert!(matches!(
            at_variants(r#"label_replace(m, "\xff", "", "src", "(.*)")"#, 1000),
            AtVariants::NotRewritable(_)
        ));
        assert!(matches!(
            at_variants(r#"label_replace(m, "a\x41", "", "src", "(.*)")"#, 1000),
            AtVariants::Run { .. }
        ));
    }

    #[test]
    fn printed_form_reparses() {
        for q in [
            r#"label_replace(foo{a=~"b.*"}, "x", "$1", "a", "(.*)")"#,
            "-foo ^ 2",
            "sum without (a) (foo) / on (b) group_left (c) bar",
            "topk(2, foo)",
            "count_values(\"v\", foo)",
            "foo[5m:] offset -1m",
            "quantile_over_time(0.5, foo[10m])",
            "(foo > bool 1) * 2",
            r#"sum(http_requests{job="api-server",group="production"})"#,
            "left_vector + fill(NaN) right_vector",
            "sum by () (foo)",
            "metricA + ignoring() metricB",
            r#"absent(nonexistent{job="testjob", instance="testinstance", method=~".x"})"#,
        ] {
            let (printed, _) = run(q, 120_000);
            assert!(parser::parse(&printed).is_ok(), "{q} -> {printed}");
        }
    }

    #[test]
    fn context_functions() {
        assert!(uses_query_context_functions("foo + step()"));
        assert!(!uses_query_context_functions("foo[5m]"));
    }

    #[test]
    fn selector_matching() {
        let sels = selectors(r#"rate(h{job=~"a|b"}[5m]) + on() count({__name__=~"x.*"})"#).unwrap();
        assert_eq!(sels.len(), 2);
        let h = Labels::from_pairs([("__name__", "h"), ("job", "a")]);
        let x = Labels::from_pairs([("__name__", "xy")]);
        assert!(selector_matches(&sels[0], &h));
        assert!(!selector_matches(&sels[0], &x));
        assert!(selector_matches(&sels[1], &x));
        assert!(!selector_matches(&sels[1], &h));
        let sub = selectors("max_over_time(h[5m:1m])").unwrap();
        assert!(selector_matches(&sub[0], &h));
    }
}
