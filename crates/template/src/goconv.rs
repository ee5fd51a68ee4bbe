//! The parts of Go's `strconv` the language relies on: quoting, unquoting, and parsing of
//! number literals and float strings with Go's accepted syntax and error wording.

/// Whether Go's `strconv.IsPrint` would call the rune printable (approximated with Unicode
/// categories available in std).
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e000}'..='\u{f8ff}'))
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        quote_rune_into(&mut out, c, q, ascii_only);
    }
    out.push(q);
    out
}

fn quote_rune_into(out: &mut String, c: char, q: char, ascii_only: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// Go's `strconv.QuoteToASCII`.
pub(crate) fn quote_ascii(s: &str) -> String {
    quote_with(s, '"', true)
}

/// Go's `strconv.QuoteRune` (and `QuoteRuneToASCII` when `ascii_only`).
pub(crate) fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    quote_rune_into(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// Whether Go's `strconv.CanBackquote` holds.
pub(crate) fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{feff}' && (c == '\t' || !(c.is_control())))
}

/// Reads one possibly escaped rune; returns it and the rest.
fn unquote_one(s: &str, q: char) -> Result<(char, &str), ()> {
    let mut it = s.chars();
    let c = it.next().ok_or(())?;
    if c == q && q != '`' {
        return Err(());
    }
    if c != '\\' {
        return Ok((c, it.as_str()));
    }
    let e = it.next().ok_or(())?;
    let rest = it.as_str();
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' if e == q => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, rest));
    }
    let hex = |n: usize| -> Result<(u32, &str), ()> {
        if rest.len() < n || !rest.is_char_boundary(n) {
            return Err(());
        }
        let v = u32::from_str_radix(&rest[..n], 16).map_err(|_| ())?;
        Ok((v, &rest[n..]))
    };
    match e {
        'x' => {
            let (v, r) = hex(2)?;
            // A \x escape names a byte; only ASCII bytes form a rune on their own.
            if v >= 0x80 {
                return Err(());
            }
            Ok((char::from_u32(v).ok_or(())?, r))
        }
        'u' => {
            let (v, r) = hex(4)?;
            Ok((char::from_u32(v).ok_or(())?, r))
        }
        'U' => {
            let (v, r) = hex(8)?;
            Ok((char::from_u32(v).ok_or(())?, r))
        }
        '0'..='7' => {
            if rest.len() < 2 || !rest.is_char_boundary(2) {
                return Err(());
            }
            let digits = format!("{e}{}", &rest[..2]);
            let v = u32::from_str_radix(&digits, 8).map_err(|_| ())?;
            if v > 0x7f {
                return Err(());
            }
            Ok((char::from_u32(v).ok_or(())?, &rest[2..]))
        }
        _ => Err(()),
    }
}

/// Go's `strconv.Unquote` for interpreted ("…") and raw (`…`) strings.
pub(crate) fn unquote(s: &str) -> Result<String, ()> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        let inner = &s[1..s.len() - 1];
        if inner.contains('`') {
            return Err(());
        }
        return Ok(inner.replace('\r', ""));
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return Err(());
    }
    let mut rest = &s[1..s.len() - 1];
    let mut out = String::with_capacity(rest.len());
    while !rest.is_empty() {
        if rest.starts_with('\n') {
            return Err(());
        }
        let (c, r) = unquote_one(rest, '"')?;
        out.push(c);
        rest = r;
    }
    Ok(out)
}

/// Decodes a character constant such as `'a'` or `'\n'`.
pub(crate) fn unquote_char_const(s: &str) -> Result<char, ()> {
    if s.len() < 3 || !s.starts_with('\'') || !s.ends_with('\'') {
        return Err(());
    }
    let (c, rest) = unquote_one(&s[1..], '\'')?;
    if rest != "'" {
        return Err(());
    }
    Ok(c)
}

/// Strips Go digit separators, which must sit between digits (or after a base prefix).
fn strip_underscores(digits: &str, after_prefix: bool) -> Option<String> {
    if !digits.contains('_') {
        return Some(digits.to_string());
    }
    let b = digits.as_bytes();
    for (i, &ch) in b.iter().enumerate() {
        if ch == b'_' {
            let prev_ok = if i == 0 {
                after_prefix
            } else {
                b[i - 1] != b'_'
            };
            let next_ok = i + 1 < b.len() && b[i + 1] != b'_';
            if !prev_ok || !next_ok {
                return None;
            }
        }
    }
    Some(digits.replace('_', ""))
}

/// Parses an integer literal as Go's `strconv.ParseInt(s, 0, …)` would (prefixes, legacy
/// octal, separators). Returns the value and whether an explicit sign was present.
pub(crate) fn parse_int_literal(s: &str) -> Option<(i128, bool)> {
    let (neg, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    let digits = strip_underscores(&digits, prefixed)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars() {
        v = v
            .checked_mul(radix as i128)?
            .checked_add(c.to_digit(radix)? as i128)?;
        if v > u64::MAX as i128 + 1 {
            return None;
        }
    }
    Some((if neg { -v } else { v }, signed))
}

/// Why a float string was rejected, worded as Go's `strconv.NumError`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FloatError {
    Syntax,
    Range,
}

/// Go's `strconv.ParseFloat(s, 64)`.
pub(crate) fn parse_float(s: &str) -> Result<f64, FloatError> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let sign = if neg { -1.0 } else { 1.0 };
    if lower == "inf" || lower == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return parse_hex_float(hex).map(|v| sign * v);
    }
    let prefixed = false;
    let clean = strip_underscores(&lower, prefixed).ok_or(FloatError::Syntax)?;
    if clean.is_empty()
        || !clean
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
        || !clean
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
    {
        return Err(FloatError::Syntax);
    }
    let v: f64 = clean.parse().map_err(|_| FloatError::Syntax)?;
    if v.is_infinite() {
        return Err(FloatError::Range);
    }
    Ok(sign * v)
}

fn parse_hex_float(hex: &str) -> Result<f64, FloatError> {
    let hex = strip_underscores(hex, true).ok_or(FloatError::Syntax)?;
    let (mant, exp) = match hex.find('p') {
        Some(i) => (&hex[..i], Some(&hex[i + 1..])),
        None => (hex.as_str(), None),
    };
    let (int_part, frac_part) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part
            .chars()
            .chain(frac_part.chars())
            .all(|c| c.is_ascii_hexdigit())
    {
        return Err(FloatError::Syntax);
    }
    // ParseFloat insists on the binary exponent for hexadecimal mantissas.
    let e: i32 = match exp {
        Some(e) => e.parse().map_err(|_| FloatError::Syntax)?,
        None => return Err(FloatError::Syntax),
    };
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + c.to_digit(16).unwrap_or(0) as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += c.to_digit(16).unwrap_or(0) as f64 * scale;
        scale /= 16.0;
    }
    let r = v * 2f64.powi(e);
    if r.is_infinite() {
        return Err(FloatError::Range);
    }
    Ok(r)
}

/// The message Go's `strconv.ParseFloat` error prints for `s`.
pub(crate) fn parse_float_error_text(s: &str, e: &FloatError) -> String {
    let what = match e {
        FloatError::Syntax => "invalid syntax",
        FloatError::Range => "value out of range",
    };
    format!("strconv.ParseFloat: parsing {}: {what}", quote(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_go() {
        assert_eq!(quote("a\"b\n\x01é"), "\"a\\\"b\\n\\x01é\"");
        assert_eq!(quote_ascii("é"), "\"\\u00e9\"");
        assert_eq!(quote_rune('x', false), "'x'");
    }

    #[test]
    fn unquote_handles_escapes() {
        assert_eq!(unquote(r#""a\tb\x41\u00e9\101""#).unwrap(), "a\tbAéA");
        assert_eq!(unquote("`raw\\n`").unwrap(), "raw\\n");
        assert!(unquote(r#""\q""#).is_err());
        assert_eq!(unquote_char_const("'\\n'").unwrap(), '\n');
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_int_literal("0x1F"), Some((31, false)));
        assert_eq!(parse_int_literal("017"), Some((15, false)));
        assert_eq!(parse_int_literal("1_000"), Some((1000, false)));
        assert_eq!(parse_int_literal("-5"), Some((-5, true)));
        assert_eq!(parse_int_literal("08"), None);
        assert_eq!(parse_float("1e400"), Err(FloatError::Range));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert_eq!(parse_float("0x10"), Err(FloatError::Syntax));
        assert_eq!(parse_float("one"), Err(FloatError::Syntax));
        assert_eq!(parse_float(".12"), Ok(0.12));
        assert!(parse_float("-Inf").unwrap().is_infinite());
    }
}
