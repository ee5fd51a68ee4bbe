//! HTML mode: the contextual auto-escaping `html/template` applies to action output.
//! The context is tracked through the literal text actually emitted, so templates called
//! from inside an attribute escape for that attribute, as Go's per-context copies do.

use crate::gofmt;
use crate::value::Value;

mod predef;
pub(crate) use predef::Predef;

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum St {
    #[default]
    Text,
    Tag,
    AttrName,
    AfterName,
    BeforeValue,
    Attr,
    RawText,
    Comment,
}

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum AttrKind {
    #[default]
    Normal,
    Url,
    Js,
    Css,
}

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum Raw {
    #[default]
    None,
    Script,
    Style,
    RcData,
}

/// Where the next action's output lands.
#[derive(Default, Debug)]
pub(crate) struct HtmlCtx {
    st: St,
    attr: AttrKind,
    quote: Option<char>,
    attr_has_text: bool,
    url_in_query: bool,
    raw: Raw,
    raw_end: String,
    js_quote: Option<char>,
    tag_name: String,
    attr_name: String,
}

const URL_ATTRS: &[&str] = &[
    "action",
    "archive",
    "background",
    "cite",
    "classid",
    "codebase",
    "data",
    "formaction",
    "href",
    "icon",
    "longdesc",
    "manifest",
    "poster",
    "profile",
    "src",
    "usemap",
    "xmlns",
];

fn attr_kind(name: &str) -> AttrKind {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("data-").unwrap_or(&n);
    let n = n.rsplit(':').next().unwrap_or(n);
    if n.starts_with("on") {
        AttrKind::Js
    } else if n == "style" {
        AttrKind::Css
    } else if URL_ATTRS.contains(&n) || n.contains("src") || n.contains("uri") || n.contains("url")
    {
        AttrKind::Url
    } else {
        AttrKind::Normal
    }
}

impl HtmlCtx {
    /// Advances the context over literal template text and returns the text to emit
    /// (HTML comments are dropped, as html/template does).
    pub(crate) fn feed_text(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let clen = c.len_utf8();
            match self.st {
                St::Text => {
                    if rest.starts_with("<!--") {
                        self.st = St::Comment;
                        rest = &rest[4..];
                        continue;
                    }
                    if c == '<' {
                        let after = &rest[1..];
                        let (closing, name_src) = match after.strip_prefix('/') {
                            Some(a) => (true, a),
                            None => (false, after),
                        };
                        let name: String = name_src
                            .chars()
                            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '-')
                            .collect();
                        if name.starts_with(|ch: char| ch.is_ascii_alphabetic()) {
                            let consumed = 1 + usize::from(closing) + name.len();
                            out.push_str(&rest[..consumed]);
                            rest = &rest[consumed..];
                            self.tag_name = if closing {
                                String::new()
                            } else {
                                name.to_ascii_lowercase()
                            };
                            self.st = St::Tag;
                            continue;
                        }
                    }
                    out.push(c);
                    rest = &rest[clen..];
                }
                St::Comment => match rest.find("-->") {
                    Some(i) => {
                        rest = &rest[i + 3..];
                        self.st = St::Text;
                    }
                    None => rest = "",
                },
                St::Tag => {
                    out.push(c);
                    rest = &rest[clen..];
                    if c == '>' {
                        self.end_tag();
                    } else if !c.is_whitespace() && c != '/' {
                        self.st = St::AttrName;
                        self.attr_name = c.to_string();
                    }
                }
                St::AttrName => {
                    if c == '=' || c.is_whitespace() || c == '>' {
                        self.attr = attr_kind(&self.attr_name);
                        self.st = St::AfterName;
                        continue;
                    }
                    self.attr_name.push(c);
                    out.push(c);
                    rest = &rest[clen..];
                }
                St::AfterName => {
                    if c == '=' {
                        self.st = St::BeforeValue;
                    } else if !c.is_whitespace() {
                        // Another attribute or the end of the tag.
                        self.st = St::Tag;
                        continue;
                    }
                    out.push(c);
                    rest = &rest[clen..];
                }
                St::BeforeValue => {
                    if c.is_whitespace() {
                        out.push(c);
                        rest = &rest[clen..];
                        continue;
                    }
                    self.st = St::Attr;
                    self.attr_has_text = false;
                    self.url_in_query = false;
                    self.js_quote = None;
                    if c == '"' || c == '\'' {
                        self.quote = Some(c);
                        out.push(c);
                        rest = &rest[clen..];
                    } else {
                        self.quote = None;
                    }
                }
                St::Attr => {
                    let ends = match self.quote {
                        Some(q) => c == q,
                        None => c.is_whitespace() || c == '>',
                    };
                    if ends {
                        self.st = St::Tag;
                        if self.quote.is_some() {
                            out.push(c);
                            rest = &rest[clen..];
                        }
                        continue;
                    }
                    self.attr_has_text = true;
                    if c == '?' || c == '#' {
                        self.url_in_query = true;
                    }
                    self.track_js_quote(c);
                    out.push(c);
                    rest = &rest[clen..];
                }
                St::RawText => {
                    let lower = rest.to_ascii_lowercase();
                    match lower.find(&self.raw_end) {
                        Some(i) => {
                            for ch in rest[..i].chars() {
                                self.track_js_quote(ch);
                            }
                            out.push_str(&rest[..i]);
                            rest = &rest[i..];
                            self.st = St::Text;
                            self.raw = Raw::None;
                        }
                        None => {
                            for ch in rest.chars() {
                                self.track_js_quote(ch);
                            }
                            out.push_str(rest);
                            rest = "";
                        }
                    }
                }
            }
        }
        out
    }

    fn track_js_quote(&mut self, c: char) {
        let js = self.raw == Raw::Script || (self.st == St::Attr && self.attr == AttrKind::Js);
        if !js {
            return;
        }
        match self.js_quote {
            Some(q) if c == q => self.js_quote = None,
            None if c == '"' || c == '\'' || c == '`' => self.js_quote = Some(c),
            _ => {}
        }
    }

    fn end_tag(&mut self) {
        self.raw = match self.tag_name.as_str() {
            "script" => Raw::Script,
            "style" => Raw::Style,
            "textarea" | "title" => Raw::RcData,
            _ => Raw::None,
        };
        if self.raw == Raw::None {
            self.st = St::Text;
        } else {
            self.raw_end = format!("</{}", self.tag_name);
            self.js_quote = None;
            self.st = St::RawText;
        }
    }

    /// Escapes an action's value for the current context.
    pub(crate) fn escape(&mut self, v: &Value) -> String {
        let trusted = matches!(v, Value::Html(_));
        let s = stringify(v);
        match self.st {
            St::Text => {
                if trusted {
                    s
                } else {
                    html_escape(&s, false)
                }
            }
            St::Comment => String::new(),
            St::Tag | St::AttrName | St::AfterName => name_filter(&s),
            St::RawText => match self.raw {
                Raw::Script => self.js(v, &s),
                Raw::Style => css_filter(&s),
                _ => html_escape(&s, false),
            },
            St::BeforeValue | St::Attr => {
                let first = !self.attr_has_text;
                let inner = match self.attr {
                    AttrKind::Normal => {
                        if trusted {
                            strip_tags(&s)
                        } else {
                            s
                        }
                    }
                    AttrKind::Url => {
                        if first {
                            url_filter(&s)
                                .map_or_else(|| "#ZgotmplZ".to_string(), |u| url_process(u, true))
                        } else if self.url_in_query {
                            url_process(&s, false)
                        } else {
                            url_process(&s, true)
                        }
                    }
                    AttrKind::Js => self.js(v, &s),
                    AttrKind::Css => css_filter(&s),
                };
                if self.st == St::BeforeValue {
                    self.st = St::Attr;
                    self.quote = None;
                }
                self.attr_has_text = true;
                if self.quote.is_some() {
                    html_escape(&inner, trusted && self.attr == AttrKind::Normal)
                } else {
                    nospace_escape(&inner)
                }
            }
        }
    }

    fn js(&self, v: &Value, s: &str) -> String {
        if self.js_quote.is_some() {
            return js_str_escape(s);
        }
        let json = to_json(v);
        let first = json.chars().next().unwrap_or(' ');
        let last = json.chars().last().unwrap_or(' ');
        let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
        if ident(first) || ident(last) {
            format!(" {json} ")
        } else {
            json
        }
    }
}

fn stringify(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        Value::Str(s) | Value::Html(s) => s.to_string(),
        other => gofmt::sprint(std::slice::from_ref(other)),
    }
}

fn html_escape(s: &str, keep_entities: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '&' if !keep_entities => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn nospace_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("&#xfffd;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\x0b' => out.push_str("&#11;"),
            '\x0c' => out.push_str("&#12;"),
            '\r' => out.push_str("&#13;"),
            ' ' => out.push_str("&#32;"),
            '"' => out.push_str("&#34;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '=' => out.push_str("&#61;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push_str("&#96;"),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return "ZgotmplZ".into();
    }
    out
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => in_tag = false,
            (false, c) => out.push(c),
            _ => {}
        }
    }
    out
}

fn name_filter(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) {
        s.to_ascii_lowercase()
    } else {
        "ZgotmplZ".into()
    }
}

/// Rejects URLs whose scheme is not http, https or mailto.
fn url_filter(s: &str) -> Option<&str> {
    if let Some(i) = s.find(':') {
        if !s[..i].contains('/') {
            let scheme = s[..i].to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "mailto") {
                return None;
            }
        }
    }
    Some(s)
}

fn url_process(s: &str, norm: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' => norm,
            b'-' | b'.' | b'_' | b'~' => true,
            b'%' => {
                norm && i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit()
            }
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02x}"));
        }
    }
    out
}

fn css_filter(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let bad = s.chars().any(|c| {
        matches!(
            c,
            '\0' | '"'
                | '\''
                | '('
                | ')'
                | '/'
                | ';'
                | '@'
                | '['
                | '\\'
                | ']'
                | '`'
                | '{'
                | '}'
                | '<'
                | '>'
        )
    }) || lower.contains("expression")
        || lower.contains("mozbinding");
    if bad {
        "ZgotmplZ".into()
    } else {
        s.to_string()
    }
}

fn js_str_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\u0000"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\u000b"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\u0022"),
            '`' => out.push_str("\\u0060"),
            '&' => out.push_str("\\u0026"),
            '\'' => out.push_str("\\u0027"),
            '+' => out.push_str("\\u002b"),
            '/' => out.push_str("\\/"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '\\' => out.push_str("\\\\"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `encoding/json` rendering used for values placed in JavaScript.
fn to_json(v: &Value) -> String {
    let mut out = String::new();
    json_into(&mut out, v, 0);
    out
}

fn json_into(out: &mut String, v: &Value, depth: usize) {
    if depth > 100 || out.len() > gofmt::PRINT_CAP {
        out.push_str("null");
        return;
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Duration(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) if f.is_finite() => {
            let a = f.abs();
            if a != 0.0 && !(1e-6..1e21).contains(&a) {
                let s = gofmt::format_float(*f, 'e', None);
                // encoding/json writes e-07 as e-7.
                match s.find("e-0") {
                    Some(i) => out.push_str(&format!("{}e-{}", &s[..i], &s[i + 3..])),
                    None => out.push_str(&s),
                }
            } else {
                out.push_str(&gofmt::format_float(*f, 'f', None));
            }
        }
        Value::Float(_) => out.push_str("null"),
        Value::Str(s) | Value::Html(s) => out.push_str(&json_str(s)),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(out, e, depth + 1);
                if out.len() > gofmt::PRINT_CAP {
                    break;
                }
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, e)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_str(k));
                out.push(':');
                json_into(out, e, depth + 1);
                if out.len() > gofmt::PRINT_CAP {
                    break;
                }
            }
            out.push('}');
        }
        Value::Record(r) => {
            out.push('{');
            for (i, (k, e)) in r.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_str(k));
                out.push(':');
                json_into(out, e, depth + 1);
            }
            out.push('}');
        }
        other => out.push_str(&json_str(&stringify(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parts: &[&str], v: &Value) -> String {
        let mut ctx = HtmlCtx::default();
        let mut out = String::new();
        for (i, p) in parts.iter().enumerate() {
            out.push_str(&ctx.feed_text(p));
            if i + 1 < parts.len() {
                out.push_str(&ctx.escape(v));
            }
        }
        out
    }

    #[test]
    fn contexts() {
        let v = Value::str("<a href=\"x\">O'Reilly & co</a>");
        assert_eq!(
            run(&["<p>", "</p>"], &v),
            "<p>&lt;a href=&#34;x&#34;&gt;O&#39;Reilly &amp; co&lt;/a&gt;</p>"
        );
        assert_eq!(
            run(&["<a title=\"", "\">"], &Value::str("a\"b")),
            "<a title=\"a&#34;b\">"
        );
        assert_eq!(
            run(&["<a title=", ">"], &Value::str("a b")),
            "<a title=a&#32;b>"
        );
        assert_eq!(
            run(&["<a href=\"", "\">"], &Value::str("javascript:alert(1)")),
            "<a href=\"#ZgotmplZ\">"
        );
        assert_eq!(
            run(&["<a href=\"/q?x=", "\">"], &Value::str("a b&c")),
            "<a href=\"/q?x=a%20b%26c\">"
        );
        assert_eq!(
            run(
                &["<script>var x = ", ";</script>"],
                &Value::str("</script>")
            ),
            "<script>var x = \"\\u003c/script\\u003e\";</script>"
        );
        assert_eq!(
            run(&["<script>var x = ", ";</script>"], &Value::Int(3)),
            "<script>var x =  3 ;</script>"
        );
        assert_eq!(run(&["a<!-- c -->b", ""], &Value::Nil), "ab");
        assert_eq!(
            run(&["<b>", "</b>"], &Value::Html("<i>x</i>".into())),
            "<b><i>x</i></b>"
        );
    }
}
