//! Prometheus series selectors (`up{job="x",instance=~"a.*"}`) for `--match` flags.
//!
//! Only the selector subset of PromQL: an optional metric name, then optional braces with
//! `name op "value"` matchers. Values take double, single or back quotes; the first two
//! understand Go's escapes, as PromQL strings do.

use pharos_model::labels::{is_valid_label_name, is_valid_metric_name};
use pharos_model::{MatchOp, Matcher, METRIC_NAME};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {input:?} at character {pos}: {msg}")]
pub struct SelectorError {
    pub input: String,
    /// 1-based character position of the problem.
    pub pos: usize,
    pub msg: String,
}

/// Parses a series selector into matchers, the metric-name matcher first.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = Parser {
        input,
        chars: input.char_indices().collect(),
        i: 0,
    };
    p.selector()
}

struct Parser<'a> {
    input: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, SelectorError> {
        Err(SelectorError {
            input: self.input.to_owned(),
            pos: self.i + 1,
            msg: msg.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|&(_, c)| c)
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.i + 1).map(|&(_, c)| c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn ident(&mut self, metric: bool) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (metric && c == ':')
                || (self.i > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.i += 1;
        }
        self.chars[start..self.i].iter().map(|&(_, c)| c).collect()
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, SelectorError> {
        self.skip_ws();
        let mut matchers = Vec::new();
        let mut has_name = false;
        if self.peek().is_some_and(|c| c != '{') {
            let name = self.ident(true);
            if name.is_empty() {
                return self.err("expected a metric name or '{'");
            }
            matchers.push(Matcher::equal(METRIC_NAME, name));
            has_name = true;
            self.skip_ws();
        }
        if self.peek() == Some('{') {
            self.i += 1;
            self.matchers(&mut matchers, has_name)?;
        }
        self.skip_ws();
        if self.peek().is_some() {
            return self.err("unexpected text after the selector");
        }
        if matchers.is_empty() {
            return self.err("empty selector: give a metric name or at least one matcher");
        }
        if matchers.iter().all(Matcher::matches_empty) {
            self.i = 0;
            return self.err("the selector must contain at least one matcher that does not match the empty string");
        }
        Ok(matchers)
    }

    fn matchers(
        &mut self,
        out: &mut Vec<Matcher>,
        mut has_name: bool,
    ) -> Result<(), SelectorError> {
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.i += 1;
                    return Ok(());
                }
                None => return self.err("unclosed '{'"),
                _ => {}
            }
            let start = self.i;
            let name = if matches!(self.peek(), Some('"' | '\'' | '`')) {
                self.string()?
            } else {
                let n = self.ident(false);
                if n.is_empty() {
                    return self.err("expected a label name");
                }
                n
            };
            self.skip_ws();
            let op = match (self.peek(), self.peek2()) {
                (Some('='), Some('~')) => Some(MatchOp::RegexMatch),
                (Some('!'), Some('~')) => Some(MatchOp::RegexNoMatch),
                (Some('!'), Some('=')) => Some(MatchOp::NotEqual),
                (Some('='), _) => Some(MatchOp::Equal),
                _ => None,
            };
            let matcher = match op {
                Some(op) => {
                    self.i += if op == MatchOp::Equal { 1 } else { 2 };
                    self.skip_ws();
                    if !matches!(self.peek(), Some('"' | '\'' | '`')) {
                        return self.err("expected a quoted label value");
                    }
                    let value = self.string()?;
                    if name != METRIC_NAME
                        && !is_valid_label_name(&name)
                        && !self.chars_quoted(start)
                    {
                        self.i = start;
                        return self.err(format!("invalid label name {name:?}"));
                    }
                    Matcher::new(op, name.clone(), value).map_err(|e| SelectorError {
                        input: self.input.to_owned(),
                        pos: start + 1,
                        msg: e.to_string(),
                    })?
                }
                // A lone quoted string names the metric (Prometheus 3's `{"metric.name"}`).
                None if self.chars_quoted(start) => {
                    if has_name {
                        self.i = start;
                        return self.err("metric name given twice");
                    }
                    Matcher::equal(METRIC_NAME, name.clone())
                }
                None => return self.err("expected one of =, !=, =~, !~"),
            };
            if matcher.name == METRIC_NAME && matcher.op == MatchOp::Equal {
                if has_name {
                    self.i = start;
                    return self.err("metric name given twice");
                }
                if !is_valid_metric_name(&matcher.value) && !self.chars_quoted(start) {
                    self.i = start;
                    return self.err(format!("invalid metric name {:?}", matcher.value));
                }
                has_name = true;
                out.insert(0, matcher);
            } else {
                out.push(matcher);
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some('}') => {}
                None => return self.err("unclosed '{'"),
                Some(c) => return self.err(format!("expected ',' or '}}', found {c:?}")),
            }
        }
    }

    fn chars_quoted(&self, at: usize) -> bool {
        matches!(self.chars.get(at).map(|&(_, c)| c), Some('"' | '\'' | '`'))
    }

    /// A quoted string at the cursor, unescaped.
    fn string(&mut self) -> Result<String, SelectorError> {
        let Some(quote) = self.peek() else {
            return self.err("expected a quoted string");
        };
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err("unterminated string");
            };
            self.i += 1;
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                self.escape(&mut out)?;
            } else if c == '\n' && quote != '`' {
                self.i -= 1;
                return self.err("newline in string");
            } else {
                out.push(c);
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), SelectorError> {
        let Some(c) = self.peek() else {
            return self.err("unterminated escape");
        };
        self.i += 1;
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' | '"' | '\'' => Some(c),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.i -= 1;
                (3, 8)
            }
            _ => {
                self.i -= 1;
                return self.err(format!("unknown escape sequence \\{c}"));
            }
        };
        let start = self.i;
        let mut v: u32 = 0;
        for _ in 0..digits {
            let Some(d) = self.peek().and_then(|c| c.to_digit(radix)) else {
                return self.err(format!("escape needs {digits} base-{radix} digits"));
            };
            v = v * radix + d;
            self.i += 1;
        }
        match (c, char::from_u32(v)) {
            // \x and octal escapes are bytes; only ASCII makes a valid UTF-8 string alone.
            ('x' | '0'..='7', Some(ch)) if v < 0x80 => out.push(ch),
            ('u' | 'U', Some(ch)) => out.push(ch),
            _ => {
                self.i = start;
                return self.err("escape does not produce a valid character");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(input: &str) -> Vec<String> {
        parse_selector(input)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn err(input: &str) -> String {
        parse_selector(input).unwrap_err().to_string()
    }

    #[test]
    fn forms() {
        assert_eq!(show("up"), ["__name__=\"up\""]);
        assert_eq!(show("  up { } "), ["__name__=\"up\""]);
        assert_eq!(
            show(r#"up{job="x",instance=~"a.*"}"#),
            ["__name__=\"up\"", "job=\"x\"", "instance=~\"a.*\""]
        );
        assert_eq!(show(r#"{job!="", i!~'b',}"#), ["job!=\"\"", "i!~\"b\""]);
        assert_eq!(
            show(r#"{job="x", __name__="up"}"#),
            ["__name__=\"up\"", "job=\"x\""]
        );
        assert_eq!(
            show(r#"{"my.metric", job="x"}"#),
            ["__name__=\"my.metric\"", "job=\"x\""]
        );
        assert_eq!(show(r#"{__name__=~"a|b"}"#), ["__name__=~\"a|b\""]);
        assert_eq!(
            show("ns:rule_name:rate5m"),
            ["__name__=\"ns:rule_name:rate5m\""]
        );
    }

    #[test]
    fn escapes() {
        let m = parse_selector(r#"{a="q\"\\\n\t\x41\101\u00e9\U0001F600", b='it\'s', c=`raw\n`}"#)
            .unwrap();
        assert_eq!(m[0].value, "q\"\\\n\tAAé😀");
        assert_eq!(m[1].value, "it's");
        assert_eq!(m[2].value, "raw\\n");
    }

    #[test]
    fn matchers_behave() {
        let m = parse_selector(r#"{instance=~"a.*"}"#).unwrap();
        assert!(m[0].matches("abc"));
        assert!(!m[0].matches("bc"));
    }

    #[test]
    fn errors() {
        let cases = [
            ("", "empty selector"),
            ("{}", "empty selector"),
            ("up{", "unclosed"),
            ("up{job}", "expected one of"),
            ("up{job=x}", "quoted label value"),
            (r#"up{job="x"#, "unterminated string"),
            (r#"up{job="x" instance="y"}"#, "expected ',' or '}'"),
            (r#"up{job="\q"}"#, "unknown escape"),
            (r#"up{job="\x4"}"#, "2 base-16 digits"),
            (r#"up{job="\xff"}"#, "valid character"),
            (r#"up{__name__="x"}"#, "given twice"),
            (r#"{job=""}"#, "does not match the empty string"),
            (r#"{job=~".*"}"#, "does not match the empty string"),
            (r#"{job=~"("}"#, "invalid regular expression"),
            ("up}", "unexpected text"),
            ("1up", "expected a metric name"),
            (r#"{1a="x"}"#, "expected a label name"),
        ];
        for (input, want) in cases {
            let e = err(input);
            assert!(e.contains(want), "{input:?}: {e}");
        }
        assert!(
            err("up{job}").contains("at character 7"),
            "{}",
            err("up{job}")
        );
    }

    #[test]
    fn never_panics_on_prefixes() {
        let s = r#"a:b{c="\u00e9\x41",d!~'e|f',`g`=~"h"}"#;
        for end in 0..=s.len() {
            if s.is_char_boundary(end) {
                let _ = parse_selector(&s[..end]);
            }
        }
    }
}
