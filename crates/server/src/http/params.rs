//! Request parameters of the Prometheus HTTP API, read the way Prometheus reads them
//! (`web/api/v1/api.go`): the same accepted forms, the same defaults and, since clients
//! and people match on them, the same error texts.
//!
//! Parameters arrive in the query string and, for POST, in an
//! `application/x-www-form-urlencoded` body. As with Go's `Request.ParseForm`, body values
//! come first, so a body parameter wins over a query-string one of the same name.

use crate::config::units::parse_duration as parse_prom_duration;
use crate::tsdb_cmd::time_arg::parse_rfc3339;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method};
use pharos_model::{MatchOp, Matcher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Go's `ParseForm` refuses larger bodies (`http: POST too large`); a query never needs more.
const MAX_FORM_BYTES: usize = 10 << 20;

/// Prometheus's `MinTime`: `time.Unix(math.MinInt64/1000+62135596801, 0)` in milliseconds,
/// the default start of optional ranges.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Prometheus's `MaxTime`: `time.Unix(math.MaxInt64/1000-62135596801, 999999999)`.
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
/// How Go prints the two; client libraries send these literals for "unbounded".
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Unix seconds beyond this cannot be held in milliseconds as an i64.
const MAX_UNIX_SECONDS: f64 = 9.2e15;

/// The `errorType` of an API error, with the HTTP status Prometheus gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
        }
    }

    /// Prometheus's `getDefaultErrorCode`: 499 is nginx's "client closed request", which is
    /// the only way a query gets canceled.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadData => 400,
            ErrorKind::Execution => 422,
            ErrorKind::Canceled => 499,
            ErrorKind::Timeout | ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// An error answered as `{"status":"error","errorType":…,"error":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub msg: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        ApiError {
            kind,
            msg: msg.into(),
        }
    }

    pub fn bad_data(msg: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::BadData, msg)
    }

    /// Prometheus's `invalidParamError`.
    pub fn invalid_param(param: &str, err: impl std::fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter {param:?}: {err}"))
    }
}

/// The parameters of one request, in Go's `Request.Form` order.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parameters from a form body (first) and a query string.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Form {
        let mut pairs = Vec::new();
        if let Some(b) = body {
            pairs.extend(form_urlencoded::parse(b).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Form { pairs }
    }

    /// The first value of `name`, or "" when absent, as Go's `FormValue`: every check
    /// below treats an empty value like a missing one, as Prometheus does.
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, for repeated parameters such as `match[]`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads the query string and, for a POST with a form body, the body.
pub async fn read_form(req: Request) -> Result<Form, ApiError> {
    let (parts, body) = req.into_parts();
    let is_form = parts.method == Method::POST
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
    let body = if is_form {
        let bytes = read_body(body).await?;
        Some(bytes)
    } else {
        None
    };
    Ok(Form::parse(parts.uri.query(), body.as_deref()))
}

async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => Ok(b.to_vec()),
        Err(e) => {
            let inner = e.into_inner();
            let msg = if inner.is::<http_body_util::LengthLimitError>() {
                "http: POST too large".to_owned()
            } else {
                inner.to_string()
            };
            Err(ApiError::bad_data(format!(
                "error parsing form values: {msg}"
            )))
        }
    }
}

/// The current time in Unix milliseconds (negative only on a clock set before 1970).
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Prometheus's `parseTime`: Unix seconds as a float (millisecond precision, rounded), or
/// RFC 3339, or the two boundary literals. Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let fail = || format!("cannot parse {s:?} to a valid timestamp");
    if let Some(f) = parse_go_float(s) {
        if !f.is_finite() || f.abs() > MAX_UNIX_SECONDS {
            return Err(fail());
        }
        // The same float steps as Go's `math.Modf` + round to ms + `time.Unix`, so
        // timestamps like 1.0005 land on the same millisecond as in Prometheus.
        let secs = f.trunc();
        let frac = (f.fract() * 1000.0).round() / 1000.0;
        let nanos = (frac * 1e9) as i64;
        let total_secs = secs as i64 + nanos.div_euclid(1_000_000_000);
        let ms_in_sec = nanos.rem_euclid(1_000_000_000) / 1_000_000;
        return total_secs
            .checked_mul(1000)
            .and_then(|v| v.checked_add(ms_in_sec))
            .ok_or_else(fail);
    }
    if let Some(ms) = parse_rfc3339(s) {
        return Ok(ms);
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(fail()),
    }
}

/// Go's `strconv.ParseFloat` for the forms clients send: Rust's float syntax agrees on
/// decimals, exponents, `Inf` and `NaN` (Go's hex floats and digit underscores are not
/// taken, and no client sends them).
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Prometheus's `parseTimeParam`: an optional time with a default.
pub fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ApiError> {
    let v = form.get(name);
    if v.is_empty() {
        return Ok(default);
    }
    parse_time(v)
        .map_err(|e| ApiError::invalid_param(name, format!("invalid time value for '{name}': {e}")))
}

/// Prometheus's `parseDuration`: float seconds or a Prometheus duration (`1h30m`).
/// Returns nanoseconds, which may be negative for float input.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    if let Some(d) = parse_go_float(s) {
        if d.is_nan() {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        let ns = d * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    parse_prom_duration(s)
        .ok()
        .and_then(|d| d.as_millis_i64().checked_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// Prometheus's `parseLimitParam`: 0 (also for "") means no limit.
pub fn limit_param(form: &Form) -> Result<usize, ApiError> {
    let s = form.get("limit");
    if s.is_empty() {
        return Ok(0);
    }
    let n = go_atoi(s).map_err(|e| ApiError::invalid_param("limit", e))?;
    usize::try_from(n).map_err(|_| ApiError::invalid_param("limit", "limit must be non-negative"))
}

/// Go's `strconv.Atoi`, with its error texts.
pub fn go_atoi(s: &str) -> Result<i64, String> {
    use std::num::IntErrorKind;
    // Rust's parser takes a leading '+' as Go's does; Go's base-10 Atoi takes nothing else.
    s.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            format!("strconv.Atoi: parsing {s:?}: value out of range")
        }
        _ => format!("strconv.Atoi: parsing {s:?}: invalid syntax"),
    })
}

/// The longest expression or selector parsed here. The parser recurses once per nesting
/// level (parentheses, operator chains), so unbounded input could exhaust the stack;
/// this bound with [`PARSE_STACK_BYTES`] keeps every accepted input parseable.
pub const MAX_EXPR_BYTES: usize = 128 << 10;
/// Stack of the thread that parses; reserved address space, touched only as used.
const PARSE_STACK_BYTES: usize = 256 << 20;

/// Runs `f` (which parses client input) on a thread with a stack large enough for any
/// input up to [`MAX_EXPR_BYTES`]. `None` if the thread could not be started or failed.
pub fn with_parse_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::Builder::new()
        .name("pharos-parse".into())
        .stack_size(PARSE_STACK_BYTES)
        .spawn(f)
        .ok()?
        .join()
        .ok()
}

/// The most operators, brackets and set keywords (outside label matchers and strings) an
/// expression parsed here may have. The parser's time grows with the square of the
/// nesting it builds from these (20,000 nested calls take seconds), so this keeps one
/// request's parse to milliseconds while leaving room for any hand-written query.
pub const MAX_EXPR_OPERATORS: usize = 2_000;

/// Refuses expressions beyond [`MAX_EXPR_BYTES`] or [`MAX_EXPR_OPERATORS`] before parsing.
pub fn check_expr_len(s: &str) -> Result<(), String> {
    if s.len() > MAX_EXPR_BYTES {
        return Err(format!(
            "expression of {} bytes exceeds the limit of {MAX_EXPR_BYTES} bytes",
            s.len()
        ));
    }
    let ops = count_operators(s);
    if ops > MAX_EXPR_OPERATORS {
        return Err(format!(
            "expression has {ops} operators and brackets, more than the limit of {MAX_EXPR_OPERATORS}"
        ));
    }
    Ok(())
}

/// Operator characters, brackets and the word operators (`and`, `or`, `unless`, `atan2`)
/// outside string literals and label-matcher braces: an upper bound on the nesting the
/// parser can build.
fn count_operators(s: &str) -> usize {
    let mut count = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut braces = 0usize;
    let mut word = String::new();
    let end_word = |word: &mut String, count: &mut usize, braces: usize| {
        if braces == 0
            && matches!(
                word.to_ascii_lowercase().as_str(),
                "and" | "or" | "unless" | "atan2"
            )
        {
            *count += 1;
        }
        word.clear();
    };
    for c in s.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        end_word(&mut word, &mut count, braces);
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '(' | ')' | '[' | ']' | '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!'
                if braces == 0 =>
            {
                count += 1
            }
            _ => {}
        }
    }
    end_word(&mut word, &mut count, braces);
    count
}

/// Converts one parsed vector selector into matcher sets: one set, or one per `or` branch
/// (`up{a="1" or b="2"}`), each including the metric name.
pub fn selector_matchers(
    vs: &promql_parser::parser::VectorSelector,
) -> Result<Vec<Vec<Matcher>>, String> {
    let name = vs
        .name
        .as_ref()
        .map(|n| Matcher::equal(pharos_model::METRIC_NAME, n.clone()));
    let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
        vec![&vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers.iter().collect()
    };
    groups
        .into_iter()
        .map(|group| {
            let mut set: Vec<Matcher> = name.iter().cloned().collect();
            for m in group {
                set.push(convert_matcher(m)?);
            }
            Ok(set)
        })
        .collect()
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher, String> {
    use promql_parser::label::MatchOp as P;
    let op = match m.op {
        P::Equal => MatchOp::Equal,
        P::NotEqual => MatchOp::NotEqual,
        P::Re(_) => MatchOp::RegexMatch,
        P::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| e.to_string())
}

const EMPTY_MATCHERS: &str = "match[] must contain at least one non-empty matcher";

/// Prometheus's `parseMatchersParam`: each `match[]` value is a series selector; every
/// resulting set must have a matcher that does not match the empty string, so no
/// selector silently selects every series.
pub fn parse_match_params(values: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    for v in values {
        check_expr_len(v)?;
    }
    let owned: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
    let sets = with_parse_stack(move || -> Result<Vec<Vec<Matcher>>, String> {
        let mut sets = Vec::new();
        for v in &owned {
            sets.extend(parse_series_selector(v)?);
        }
        Ok(sets)
    })
    .ok_or_else(|| "cannot parse match[]: the parser thread failed".to_owned())??;
    if sets
        .iter()
        .any(|set| set.iter().all(Matcher::matches_empty))
    {
        return Err(EMPTY_MATCHERS.to_owned());
    }
    Ok(sets)
}

/// One series selector (`up{job="x"}`), which must be only that: no functions, ranges,
/// `offset` or `@`.
fn parse_series_selector(s: &str) -> Result<Vec<Vec<Matcher>>, String> {
    use promql_parser::parser::{self, Expr};
    // Prometheus parses `match[]` with a selector-only grammar that leaves this check to
    // the API, whose wording clients see; the general parser makes it itself.
    let expr = parser::parse(s).map_err(|e| {
        if e == "vector selector must contain at least one non-empty matcher" {
            EMPTY_MATCHERS.to_owned()
        } else {
            format!("parse error: {e}")
        }
    })?;
    match expr {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            selector_matchers(&vs)
        }
        _ => Err(format!(
            "parse error: {s:?} is not a series selector (a metric name and/or label matchers in braces)"
        )),
    }
}

/// Prometheus 3's `model.UnescapeName` for `U__`-escaped label names in URL paths (used
/// for names that are not valid as plain identifiers). Anything malformed stays as is.
pub fn unescape_label_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else {
        return name.to_owned();
    };
    let b = escaped.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'_' {
            // Non-ASCII bytes are copied as whole characters.
            let ch_len = utf8_len(b[i]);
            match escaped.get(i..i + ch_len) {
                Some(ch) => out.push_str(ch),
                None => return name.to_owned(),
            }
            i += ch_len;
            continue;
        }
        i += 1;
        if i >= b.len() {
            return name.to_owned();
        }
        if b[i] == b'_' {
            out.push('_');
            i += 1;
            continue;
        }
        let mut code: u32 = 0;
        let mut digits = 0;
        loop {
            if i >= b.len() || digits >= 6 {
                return name.to_owned();
            }
            if b[i] == b'_' {
                break;
            }
            let Some(d) = (b[i] as char).to_digit(16) else {
                return name.to_owned();
            };
            code = code * 16 + d;
            digits += 1;
            i += 1;
        }
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None => return name.to_owned(),
        }
        i += 1;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(q: &str) -> Form {
        Form::parse(Some(q), None)
    }

    #[test]
    fn form_body_wins_and_repeats_accumulate() {
        let f = Form::parse(
            Some("query=q1&match[]=a&time=1"),
            Some(b"query=q2&match%5B%5D=b"),
        );
        assert_eq!(f.get("query"), "q2");
        assert_eq!(f.get("time"), "1");
        assert_eq!(f.get("absent"), "");
        assert_eq!(f.all("match[]"), vec!["b", "a"]);
        let f = form("query=rate(x%5B5m%5D)+%2B+1");
        assert_eq!(f.get("query"), "rate(x[5m]) + 1");
    }

    #[test]
    fn times_as_prometheus_parses_them() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("1435781451").unwrap(), 1_435_781_451_000);
        assert_eq!(parse_time("1e9").unwrap(), 1_000_000_000_000);
        // 1.0005 is 1.000499999… as a float: Go's rounding lands on 1000ms too.
        assert_eq!(parse_time("1.0005").unwrap(), 1_000);
        assert_eq!(parse_time("1.0006").unwrap(), 1_001);
        assert_eq!(parse_time("-1.5").unwrap(), -1_500);
        assert_eq!(parse_time("0.0001").unwrap(), 0);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51+02:00").unwrap(),
            1_435_781_451_000
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED).unwrap(), MIN_TIME_MS);
        assert_eq!(parse_time(MAX_TIME_FORMATTED).unwrap(), MAX_TIME_MS);
        for bad in ["x", "", "NaN", "Inf", "1e300", " 1", "2015-07-01", "12:00"] {
            assert_eq!(
                parse_time(bad).unwrap_err(),
                format!("cannot parse {bad:?} to a valid timestamp")
            );
        }
    }

    #[test]
    fn time_param_defaults_and_errors() {
        let f = form("time=soon&start=");
        assert_eq!(time_param(&f, "start", 7).unwrap(), 7);
        assert_eq!(time_param(&f, "end", 8).unwrap(), 8);
        assert_eq!(
            time_param(&f, "time", 0).unwrap_err().msg,
            r#"invalid parameter "time": invalid time value for 'time': cannot parse "soon" to a valid timestamp"#
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("15s").unwrap(), 15_000_000_000);
        assert_eq!(parse_duration_ns("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration_ns("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("90").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("-1").unwrap(), -1_000_000_000);
        assert_eq!(parse_duration_ns("0").unwrap(), 0);
        assert_eq!(
            parse_duration_ns("1e10").unwrap_err(),
            r#"cannot parse "1e10" to a valid duration. It overflows int64"#
        );
        for bad in ["x", "", "1.5h", "5mins", "-5m", "NaN", "300000000y"] {
            assert_eq!(
                parse_duration_ns(bad).unwrap_err(),
                format!("cannot parse {bad:?} to a valid duration")
            );
        }
    }

    #[test]
    fn limits() {
        assert_eq!(limit_param(&form("")).unwrap(), 0);
        assert_eq!(limit_param(&form("limit=5")).unwrap(), 5);
        assert_eq!(limit_param(&form("limit=%2B5")).unwrap(), 5);
        assert_eq!(
            limit_param(&form("limit=x")).unwrap_err().msg,
            r#"invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax"#
        );
        assert_eq!(
            limit_param(&form("limit=-1")).unwrap_err().msg,
            r#"invalid parameter "limit": limit must be non-negative"#
        );
        assert!(limit_param(&form("limit=99999999999999999999"))
            .unwrap_err()
            .msg
            .ends_with("value out of range"));
    }

    #[test]
    fn match_params() {
        let sets = parse_match_params(&["up", r#"{job=~"a|b", instance!=""}"#]).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0], vec![Matcher::equal("__name__", "up")]);
        assert_eq!(sets[1].len(), 2);
        assert_eq!(sets[1][0].op, MatchOp::RegexMatch);
        assert!(sets[1][0].matches("b"));

        let sets = parse_match_params(&[r#"up{a="1" or b="2"}"#]).unwrap();
        assert_eq!(
            sets,
            vec![
                vec![Matcher::equal("__name__", "up"), Matcher::equal("a", "1")],
                vec![Matcher::equal("__name__", "up"), Matcher::equal("b", "2")],
            ]
        );

        assert_eq!(
            parse_match_params(&[r#"{job=~".*"}"#]).unwrap_err(),
            "match[] must contain at least one non-empty matcher"
        );
        assert_eq!(
            parse_match_params(&[r#"{a="1" or b=""}"#]).unwrap_err(),
            "match[] must contain at least one non-empty matcher"
        );
        for bad in ["up{", "rate(up[5m])", "up offset 5m", "up[5m]", "1", ""] {
            assert!(parse_match_params(&[bad]).is_err(), "{bad}");
        }
        let deep = format!("{}up{}", "(".repeat(50_000), ")".repeat(50_000));
        assert!(parse_match_params(&[&deep])
            .unwrap_err()
            .contains("more than the limit"));
        // Long selectors (big regex alternations, many matchers) are fine.
        let alternation: Vec<String> = (0..5_000).map(|i| format!("v{i}")).collect();
        let big = format!(r#"up{{a=~"{}", b!="(+)"}}"#, alternation.join("|"));
        assert_eq!(parse_match_params(&[&big]).unwrap()[0].len(), 3);
        let long = "a".repeat(MAX_EXPR_BYTES + 1);
        assert!(parse_match_params(&[&long])
            .unwrap_err()
            .contains("exceeds the limit"));
    }

    #[test]
    fn operator_counting() {
        assert_eq!(count_operators(r#"up{job="a(b)+c",x=~"[a-z]"}"#), 0);
        assert_eq!(count_operators("sum(rate(x[5m])) by (job)"), 8);
        assert_eq!(count_operators("a and b OR c unless d atan2 e"), 4);
        assert_eq!(
            count_operators(r#"label_replace(x, "a", "\"(", "b", "c")"#),
            2
        );
        assert_eq!(count_operators("a{or=\"x\"} or b"), 1);
    }

    #[test]
    fn label_name_unescaping() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__my_2e_label"), "my.label");
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
        assert_eq!(unescape_label_name("U__x_1f600_"), "x😀");
        // Malformed escapes are taken literally, as Prometheus does.
        for s in ["U__a_", "U__a_zz_", "U__a_1234567_", "U__a_d800_"] {
            assert_eq!(unescape_label_name(s), s);
        }
    }

    #[test]
    fn error_kinds_map_to_prometheus_statuses() {
        assert_eq!(ErrorKind::BadData.status(), 400);
        assert_eq!(ErrorKind::Execution.status(), 422);
        assert_eq!(ErrorKind::Timeout.status(), 503);
        assert_eq!(ErrorKind::Canceled.status(), 499);
        assert_eq!(ErrorKind::Internal.status(), 500);
        assert_eq!(ErrorKind::Unavailable.as_str(), "unavailable");
    }
}
