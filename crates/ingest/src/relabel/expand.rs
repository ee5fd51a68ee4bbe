//! `$1` / `${1}` / `$name` templates with Go's `regexp.Expand` rules.
//!
//! The `regex` crate's own `Captures::expand` differs in ways configs can observe (it
//! reads `$01` as group 1 and only ASCII in names), and Prometheus users write templates
//! against Go's behaviour, so these rules are implemented here:
//! - `$$` is a literal `$`;
//! - `$name` takes the longest run of Unicode letters, decimal digits and `_`, so `$1x`
//!   names the group `1x` (empty: no such group) — write `${1}x`;
//! - a name of ASCII digits without a leading zero (and below 10^8) is a group index,
//!   anything else a group name; unknown or non-participating groups expand to "";
//! - a `$` not followed by a well-formed name (`$`, `$-`, `${`, `${}`, `${x`) is copied
//!   literally.

use std::sync::OnceLock;

use regex::{Captures, Regex};

/// Appends `template`, expanded against the match `caps` of `src`, to `dst`.
pub(crate) fn expand(dst: &mut String, template: &str, caps: &Captures<'_>) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        dst.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let group = match group_index(name) {
            Some(i) => caps.get(i),
            None => caps.name(name),
        };
        if let Some(m) = group {
            dst.push_str(m.as_str());
        }
    }
    dst.push_str(rest);
}

/// Splits the reference at the start of `s` (the text after a `$`) into its name and
/// the remaining template, or `None` if it is malformed.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (body, braced) = match s.strip_prefix('{') {
        Some(b) => (b, true),
        None => (s, false),
    };
    let len = name_chars().find(body).map_or(0, |m| m.end());
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

/// Go's `unicode.IsLetter || unicode.IsDigit || '_'`: categories L and Nd.
fn name_chars() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // A constant pattern: this cannot fail for any input or config.
    RE.get_or_init(|| Regex::new(r"\A[\p{L}\p{Nd}_]+").expect("name pattern compiles"))
}

/// The group index a name denotes, if it is numeric in Go's sense.
fn group_index(name: &str) -> Option<usize> {
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    let mut num: usize = 0;
    for b in name.bytes() {
        // Go gives up (and falls back to a name lookup) once the number reaches 1e8;
        // no regex has that many groups, so either way the result is "".
        if !b.is_ascii_digit() || num >= 100_000_000 {
            return None;
        }
        num = num * 10 + usize::from(b - b'0');
    }
    Some(num)
}

/// Go's `Regexp.ReplaceAllString`: every non-overlapping match of `re` in `src` is
/// replaced by `template` expanded against it; an empty match right after a previous
/// match is not replaced.
///
/// With a properly anchored relabel regex there is at most one match, the whole
/// string, but a pattern that breaks out of the anchoring group can match several
/// times, and the result then has to be Go's.
pub(crate) fn replace_all(re: &Regex, src: &str, template: &str) -> String {
    let mut out = String::with_capacity(src.len() + template.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        out.push_str(src.get(last_end..m.start()).unwrap_or_default());
        if m.end() > last_end || m.start() == 0 {
            expand(&mut out, template, &caps);
        }
        last_end = m.end();
        // Always move forward by at least one character so empty matches terminate.
        let width = src
            .get(search..)
            .and_then(|s| s.chars().next())
            .map_or(0, char::len_utf8);
        if search + width > m.end() {
            search += width;
        } else if search + 1 > m.end() {
            search += 1;
        } else {
            search = m.end();
        }
    }
    out.push_str(src.get(last_end..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(pattern: &str, src: &str, template: &str) -> String {
        let re = Regex::new(pattern).unwrap();
        let caps = re.captures(src).unwrap();
        let mut out = String::new();
        expand(&mut out, template, &caps);
        out
    }

    /// Expected values as Go's `regexp.Expand` produces them.
    #[test]
    fn go_expand_rules() {
        let re = r"^(?P<first>a+)(b*)(?P<third>c?)(d)?$";
        let cases: &[(&str, &str, &str)] = &[
            ("aabbc", "$1", "aa"),
            ("aabbc", "${1}", "aa"),
            ("aabbc", "$1x", ""),
            ("aabbc", "${1}x", "aax"),
            ("aabbc", "$2$1", "bbaa"),
            ("aabbc", "$0", "aabbc"),
            ("aabbc", "$00", ""),
            ("aabbc", "$01", ""),
            ("aabbc", "${01}", ""),
            ("aabbc", "$first-$2", "aa-bb"),
            ("aabbc", "${first}_", "aa_"),
            ("aabbc", "$first_", ""),
            ("aabbc", "$third", "c"),
            ("aabbc", "$ünï", ""),
            ("aabbc", "$4", ""),
            ("aabbc", "$9", ""),
            ("aabbc", "$999999999", ""),
            ("aabbc", "$99999999999", ""),
            ("aabbc", "$$1", "$1"),
            ("aabbc", "$$$1", "$aa"),
            ("aabbc", "$", "$"),
            ("aabbc", "a$", "a$"),
            ("aabbc", "$-", "$-"),
            ("aabbc", "${", "${"),
            ("aabbc", "${}", "${}"),
            ("aabbc", "${1", "${1"),
            ("aabbc", "${1 }", "${1 }"),
            ("aabbc", "${nope}", ""),
            ("aabbc", "no refs", "no refs"),
            ("aabbc", "", ""),
            ("aabbc", "$1٣", ""),
            ("aabbc", "é$1é", "é"),
            ("aabbc", "é${1}é", "éaaé"),
        ];
        for (src, template, want) in cases {
            assert_eq!(exp(re, src, template), *want, "template {template:?}");
        }
    }

    /// Expected values as Go's `Regexp.ReplaceAllString` produces them.
    #[test]
    fn go_replace_all_rules() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("^(?s:(.*))$", "abc", "x_$1", "x_abc"),
            ("^(?s:a)|(?s:b)$", "ab", "[$0]", "[a][b]"),
            ("^(?s:a)|(b)$", "xab", "<$1>", "xa<b>"),
            ("a*", "baaac", "-", "-b-c-"),
            ("", "abc", "-", "-a-b-c-"),
            ("x*", "é", "-", "-é-"),
            ("b", "abc", "$0$0", "abbc"),
        ];
        for (pattern, src, template, want) in cases {
            let re = Regex::new(pattern).unwrap();
            assert_eq!(
                replace_all(&re, src, template),
                *want,
                "pattern {pattern:?} on {src:?}"
            );
        }
    }
}
