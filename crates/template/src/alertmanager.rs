//! Alertmanager's notification-template functions (`toUpper`, `join`, `date`, `tz`, …),
//! matching its `template.DefaultFuncs`. Time-dependent functions use an injected clock.

use std::rc::Rc;

use chrono::{Offset, TimeZone};
use chrono_tz::OffsetName;

use crate::func::{FuncMap, Function, Ty};
use crate::gotime;
use crate::prometheus::{go_quote_regexp, go_regex, humanize_duration, to_float};
use crate::value::{GoTime, List, Value};

const STRING_SLICE: &str = "[]string";

/// `cases.Title(language.AmericanEnglish)`: first letter of each word upper-cased, the
/// rest lower-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        let word_char = c.is_alphanumeric() || c == '\'' || c == '’';
        if word_char && !in_word {
            out.extend(c.to_uppercase());
        } else if word_char {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        in_word = word_char;
    }
    out
}

/// Go's `url.QueryUnescape`.
fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(h) = hex else {
                    let end = (i + 3).min(b.len());
                    let bad = String::from_utf8_lossy(&b[i..end]);
                    return Err(format!("invalid URL escape {}", crate::goconv::quote(&bad)));
                };
                let v = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("00"), 16).unwrap_or(0);
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn time_in_zone(name: &str, t: &GoTime) -> Result<GoTime, String> {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return Ok(GoTime::utc(t.unix_nanos));
    }
    let tz: chrono_tz::Tz = name
        .parse()
        .map_err(|_| format!("unknown time zone {name}"))?;
    let secs = t.unix_nanos.div_euclid(1_000_000_000) as i64;
    let dt =
        chrono::DateTime::from_timestamp(secs, 0).ok_or_else(|| "time out of range".to_string())?;
    let off = tz.offset_from_utc_datetime(&dt.naive_utc());
    let offset_secs = off.fix().local_minus_utc();
    let zone = off.abbreviation().map(str::to_string).unwrap_or_default();
    Ok(GoTime {
        unix_nanos: t.unix_nanos,
        offset_secs,
        zone: Rc::from(zone),
    })
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn str_fn<'a>(f: fn(&str) -> String) -> Function<'a> {
    Function::new(&[Ty::Str], None, move |_, a| Ok(Value::str(f(s(&a[0])))))
}

/// A `[]string` value, as `stringSlice` builds and `join` expects.
pub fn string_slice(items: Vec<String>) -> Value {
    Value::List(Rc::new(List {
        type_name: STRING_SLICE.into(),
        items: items.into_iter().map(Value::str).collect(),
    }))
}

/// Alertmanager's default template functions; `now_ms` is the clock `since` measures from.
pub fn funcs<'a>(now_ms: i64) -> FuncMap<'a> {
    let mut m = FuncMap::new();
    m.insert("toUpper", str_fn(|x| x.to_uppercase()));
    m.insert("toLower", str_fn(|x| x.to_lowercase()));
    m.insert("title", str_fn(title));
    m.insert(
        "trimSpace",
        str_fn(|x| x.trim_matches(|c: char| c.is_whitespace()).to_string()),
    );
    m.insert(
        "join",
        Function::new(&[Ty::Str, Ty::Named(STRING_SLICE)], None, |_, a| {
            let parts: Vec<&str> = match &a[1] {
                Value::List(l) => l.items.iter().map(s).collect(),
                _ => Vec::new(),
            };
            Ok(Value::str(parts.join(s(&a[0]))))
        }),
    );
    m.insert(
        "match",
        Function::new(&[Ty::Str, Ty::Str], None, |_, a| {
            Ok(Value::Bool(go_regex(s(&a[0]))?.is_match(s(&a[1]))))
        }),
    );
    m.insert(
        "safeHtml",
        Function::new(&[Ty::Str], None, |_, a| Ok(Value::Html(Rc::from(s(&a[0]))))),
    );
    // html/template.URL is trusted as a URL but still escaped as an attribute; plain text
    // is the closest faithful rendering.
    m.insert(
        "safeUrl",
        Function::new(&[Ty::Str], None, |_, a| Ok(a[0].clone())),
    );
    m.insert(
        "urlUnescape",
        Function::new(&[Ty::Str], None, |_, a| {
            query_unescape(s(&a[0])).map(Value::str)
        }),
    );
    m.insert(
        "reReplaceAll",
        Function::new(&[Ty::Str, Ty::Str, Ty::Str], None, |_, a| {
            let re = go_regex(s(&a[0]))
                .map_err(|e| format!("regexp: Compile({}): {e}", go_quote_regexp(s(&a[0]))))?;
            Ok(Value::str(re.replace_all(s(&a[2]), s(&a[1]))))
        }),
    );
    m.insert(
        "stringSlice",
        Function::new(&[], Some(Ty::Str), |_, a| {
            Ok(string_slice(a.iter().map(|v| s(v).to_string()).collect()))
        }),
    );
    m.insert(
        "date",
        Function::new(&[Ty::Str, Ty::Time], None, |_, a| match &a[1] {
            Value::Time(t) => Ok(Value::str(gotime::format(t, s(&a[0])))),
            _ => Err("date needs a time".into()),
        }),
    );
    m.insert(
        "tz",
        Function::new(&[Ty::Str, Ty::Time], None, |_, a| match &a[1] {
            Value::Time(t) => time_in_zone(s(&a[0]), t).map(Value::Time),
            _ => Err("tz needs a time".into()),
        }),
    );
    m.insert(
        "since",
        Function::new(&[Ty::Time], None, move |_, a| match &a[0] {
            Value::Time(t) => {
                let d = now_ms as i128 * 1_000_000 - t.unix_nanos;
                Ok(Value::Duration(
                    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
                ))
            }
            _ => Err("since needs a time".into()),
        }),
    );
    m.insert(
        "humanizeDuration",
        Function::new(&[Ty::Any], None, |_, a| {
            Ok(Value::str(humanize_duration(to_float(&a[0])?)))
        }),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Template;

    fn run(text: &str, data: Value) -> Result<String, String> {
        let mut t = Template::new("am");
        t.funcs(funcs(1_700_000_000_000));
        t.parse(text).map_err(|e| e.to_string())?;
        t.execute(data).map_err(|e| e.to_string())
    }

    fn time(secs: i64) -> Value {
        Value::Time(GoTime::utc(secs as i128 * 1_000_000_000))
    }

    #[test]
    fn strings() {
        assert_eq!(
            run(
                r#"{{ toUpper "ab" }} {{ toLower "AB" }} {{ title "hello wORLD" }}"#,
                Value::Nil
            )
            .unwrap(),
            "AB ab Hello World"
        );
        assert_eq!(
            run(r#"[{{ trimSpace "  x \n" }}]"#, Value::Nil).unwrap(),
            "[x]"
        );
        assert_eq!(
            run(r#"{{ stringSlice "a" "b" "c" | join ", " }}"#, Value::Nil).unwrap(),
            "a, b, c"
        );
        assert_eq!(run(r#"{{ match "^fo+$" "foo" }} {{ reReplaceAll "(\\w+)@(\\w+)" "$2 at $1" "me@host" }}"#, Value::Nil).unwrap(), "true host at me");
        assert_eq!(
            run(r#"{{ urlUnescape "a%20b+c" }}"#, Value::Nil).unwrap(),
            "a b c"
        );
        assert!(run(r#"{{ urlUnescape "%zz" }}"#, Value::Nil)
            .unwrap_err()
            .contains("invalid URL escape \"%zz\""));
        assert_eq!(run(r#"{{ safeHtml "<b>" }}"#, Value::Nil).unwrap(), "<b>");
    }

    #[test]
    fn methods_on_named_types() {
        let kv = Value::Map(Rc::new(crate::value::Map {
            kind: crate::value::MapKind::Strings,
            entries: [("b", "2"), ("a", "1")]
                .iter()
                .map(|(k, v)| (k.to_string(), Value::str(v)))
                .collect(),
            type_name: Some("template.KV".into()),
        }));
        let mut t = Template::new("am");
        t.funcs(funcs(0));
        t.method(
            "template.KV",
            "Names",
            Function::new(&[], None, |_, a| match &a[0] {
                Value::Map(m) => Ok(string_slice(m.entries.keys().cloned().collect())),
                _ => Err("not a map".into()),
            }),
        );
        t.method(
            "template.KV",
            "Has",
            Function::new(&[Ty::Str], None, |_, a| match &a[0] {
                Value::Map(m) => Ok(Value::Bool(m.entries.contains_key(s(&a[1])))),
                _ => Err("not a map".into()),
            }),
        );
        t.parse(r#"{{ .Names | join "," }} {{ .Has "a" }} {{ .Has "z" }} {{ .a }}"#)
            .unwrap();
        assert_eq!(t.execute(kv.clone()).unwrap(), "a,b true false 1");
        let mut t2 = Template::new("e");
        t2.method(
            "template.KV",
            "Has",
            Function::new(&[Ty::Str], None, |_, _| Ok(Value::Nil)),
        );
        t2.parse("{{ .Has }}").unwrap();
        assert!(t2
            .execute(kv)
            .unwrap_err()
            .to_string()
            .ends_with("wrong number of args for Has: want 1 got 0"));
    }

    #[test]
    fn times() {
        let t = time(1_700_000_000);
        assert_eq!(
            run(r#"{{ date "2006-01-02 15:04" . }}"#, t.clone()).unwrap(),
            "2023-11-14 22:13"
        );
        assert_eq!(
            run(
                r#"{{ (tz "Europe/Paris" .).Format "15:04 MST -07:00" }}"#,
                t.clone()
            )
            .unwrap(),
            "23:13 CET +01:00"
        );
        assert_eq!(
            run(r#"{{ . | tz "Asia/Kolkata" | date "15:04" }}"#, t.clone()).unwrap(),
            "03:43"
        );
        assert!(run(r#"{{ tz "Nowhere/City" . }}"#, t)
            .unwrap_err()
            .contains("unknown time zone Nowhere/City"));
        assert_eq!(
            run(r#"{{ since . }}"#, time(1_700_000_000 - 90)).unwrap(),
            "1m30s"
        );
        assert_eq!(
            run(r#"{{ humanizeDuration 3661 }}"#, Value::Nil).unwrap(),
            "1h 1m 1s"
        );
    }
}
