//! Text forms Prometheus's tools print, so our messages read the same: Prometheus
//! durations (`5m`, `1d`), Go `time.Duration` (`1m0s`), floats in Go's `%E` shortest
//! form (`1E+00`), and label sets with every label inside the braces.

use pharos_model::Labels;

/// Prometheus's `model.Duration` text: `0s`, `90s` → `1m30s`, `1d`, `2w`.
pub fn prom_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    const DAY: i64 = 86_400_000;
    // Years and weeks only when exact, as upstream prints 90d rather than 12w6d.
    let units: [(&str, i64, bool); 7] = [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && rest % mult != 0 {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            rest -= v * mult;
        }
    }
    out
}

/// Go's `time.Duration.String()` for a millisecond count: `0s`, `500ms`, `1m0s`, `2m59.999s`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if abs < 1000 {
        return format!("{sign}{abs}ms");
    }
    let h = abs / 3_600_000;
    let m = (abs / 60_000) % 60;
    let s_ms = abs % 60_000;
    let mut secs = format!("{}", s_ms / 1000);
    let frac = s_ms % 1000;
    if frac != 0 {
        let f = format!("{frac:03}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `1E+00`, `3.0000000000000004E+00`.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:E}");
    let (mant, exp) = s.split_once('E').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}E{sign}{:02}", exp.abs())
}

/// Go's `strconv.Quote` for the characters label values usually hold.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `labels.Labels.String()`: `{__name__="up", job="x"}`.
pub fn labels_string(labels: &Labels) -> String {
    pairs_string(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

/// Like [`labels_string`] for any sorted name/value pairs.
pub fn pairs_string<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
        out.push('=');
        out.push_str(&go_quote(v));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(prom_duration(0), "0s");
        assert_eq!(prom_duration(300_000), "5m");
        assert_eq!(prom_duration(86_400_000), "1d");
        assert_eq!(prom_duration(90 * 86_400_000), "90d");
        assert_eq!(prom_duration(14 * 86_400_000), "2w");
        assert_eq!(prom_duration(5_400_000), "1h30m");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(179_999), "2m59.999s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(500), "500ms");
    }

    #[test]
    fn floats() {
        assert_eq!(go_float_e(1.0), "1E+00");
        assert_eq!(go_float_e(0.0), "0E+00");
        assert_eq!(go_float_e(3.0000000000000004), "3.0000000000000004E+00");
        assert_eq!(go_float_e(9_218_880_000.0), "9.21888E+09");
        assert_eq!(go_float_e(0.001), "1E-03");
        assert_eq!(go_float_e(f64::INFINITY), "+Inf");
    }

    #[test]
    fn labels() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(labels_string(&l), "{__name__=\"up\", job=\"a\\\"b\"}");
        assert_eq!(labels_string(&Labels::empty()), "{}");
    }
}
