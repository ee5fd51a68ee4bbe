//! Where each AST node starts in the query text.
//!
//! Prometheus ends every annotation with the `line:col` of the expression it is about,
//! but the parser's AST carries no positions. This module recovers them by
//! tokenizing the query and walking the AST alongside the tokens: each node's token
//! span is split into its children's spans the way the grammar composed them.

use promql_parser::parser::Expr;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Word,
    Literal,
    Symbol,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Keywords after which an operand still has to follow.
const NON_OPERAND_WORDS: &[&str] = &[
    "offset",
    "bool",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "atan2",
    "fill",
    "fill_left",
    "fill_right",
];

const MODIFIER_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "fill",
    "fill_left",
    "fill_right",
];

fn tokenize(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' => Kind::LParen,
            b')' => Kind::RParen,
            b'[' => Kind::LBracket,
            b']' => Kind::RBracket,
            b'{' => Kind::LBrace,
            b'}' => Kind::RBrace,
            b',' => Kind::Comma,
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                toks.push(Tok {
                    kind: Kind::Literal,
                    start,
                    end: i,
                });
                continue;
            }
            b'0'..=b'9' | b'.' => {
                i += 1;
                while i < b.len() {
                    let d = b[i];
                    let exp_sign = (d == b'+' || d == b'-')
                        && matches!(b[i - 1], b'e' | b'E')
                        && !is_hex(&b[start..i]);
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                toks.push(Tok {
                    kind: Kind::Literal,
                    start,
                    end: i,
                });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                toks.push(Tok {
                    kind: Kind::Word,
                    start,
                    end: i,
                });
                continue;
            }
            b'=' | b'!' | b'<' | b'>' => {
                if b.get(i + 1) == Some(&b'=')
                    || (c != b'<' && c != b'>' && b.get(i + 1) == Some(&b'~'))
                {
                    i += 1;
                }
                Kind::Symbol
            }
            _ => Kind::Symbol,
        };
        // Multi-byte UTF-8 characters only occur inside strings or as stray symbols;
        // step over the whole character.
        i += 1;
        while i < b.len() && (b[i] & 0xC0) == 0x80 {
            i += 1;
        }
        toks.push(Tok {
            kind,
            start,
            end: i,
        });
    }
    toks
}

fn is_hex(s: &[u8]) -> bool {
    s.len() > 1 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X')
}

struct Walker<'q> {
    q: &'q str,
    toks: Vec<Tok>,
    /// For every opening bracket, the index of its closing one.
    close: Vec<Option<usize>>,
    map: HashMap<usize, usize>,
}

impl<'q> Walker<'q> {
    fn text(&self, i: usize) -> &'q str {
        self.toks
            .get(i)
            .and_then(|t| self.q.get(t.start..t.end))
            .unwrap_or("")
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.toks.get(i).map(|t| t.kind)
    }

    fn closing(&self, i: usize) -> Option<usize> {
        self.close.get(i).copied().flatten()
    }

    /// Whether the token ends an operand, so that a following `+`/`-` is binary.
    fn ends_operand(&self, i: usize) -> bool {
        match self.kind(i) {
            Some(Kind::Literal | Kind::RBracket | Kind::RBrace) => true,
            Some(Kind::Word) => {
                !NON_OPERAND_WORDS.contains(&self.text(i).to_ascii_lowercase().as_str())
            }
            Some(Kind::RParen) => {
                // A closing parenthesis of a modifier's label list is not an operand.
                let open = (0..i).rev().find(|&o| self.closing(o) == Some(i));
                match open.and_then(|o| o.checked_sub(1)) {
                    Some(w) => {
                        !MODIFIER_WORDS.contains(&self.text(w).to_ascii_lowercase().as_str())
                    }
                    None => true,
                }
            }
            _ => false,
        }
    }

    /// Precedence (higher binds tighter) of a binary operator token at `i` in `[lo, hi)`.
    fn binary_precedence(&self, i: usize, lo: usize) -> Option<u8> {
        let t = self.text(i);
        let p = match self.kind(i)? {
            Kind::Symbol => match t {
                "==" | "!=" | "<=" | ">=" | "<" | ">" => 3,
                "+" | "-" => {
                    if i == lo || !self.ends_operand(i - 1) {
                        return None;
                    }
                    4
                }
                "*" | "/" | "%" => 5,
                "^" => 6,
                _ => return None,
            },
            Kind::Word => match t.to_ascii_lowercase().as_str() {
                "or" => 1,
                "and" | "unless" => 2,
                "atan2" => 5,
                _ => return None,
            },
            _ => return None,
        };
        Some(p)
    }

    fn record(&mut self, e: &Expr, lo: usize) {
        if let Some(t) = self.toks.get(lo) {
            self.map.insert(e as *const Expr as usize, t.start);
        }
    }

    fn walk(&mut self, e: &Expr, lo: usize, hi: usize) {
        if lo >= hi || hi > self.toks.len() {
            return;
        }
        self.record(e, lo);
        let mut lo = lo;
        while lo < hi && self.text(lo) == "+" && !matches!(e, Expr::Binary(_)) {
            lo += 1;
        }
        match e {
            Expr::Paren(p) if self.kind(lo) == Some(Kind::LParen) => {
                if let Some(c) = self.closing(lo) {
                    self.walk(&p.expr, lo + 1, c);
                }
            }
            Expr::Unary(u) => self.walk(&u.expr, lo + 1, hi),
            Expr::Subquery(s) => {
                let mut depth = 0i32;
                let mut last = None;
                for i in lo..hi {
                    match self.kind(i) {
                        Some(Kind::LBracket) if depth == 0 => {
                            last = Some(i);
                            depth += 1;
                        }
                        Some(Kind::LParen | Kind::LBracket | Kind::LBrace) => depth += 1,
                        Some(Kind::RParen | Kind::RBracket | Kind::RBrace) => depth -= 1,
                        _ => {}
                    }
                }
                if let Some(b) = last {
                    self.walk(&s.expr, lo, b);
                }
            }
            Expr::Binary(b) => {
                let mut depth = 0i32;
                let mut best: Option<(u8, usize)> = None;
                for i in lo..hi {
                    match self.kind(i) {
                        Some(Kind::LParen | Kind::LBracket | Kind::LBrace) => depth += 1,
                        Some(Kind::RParen | Kind::RBracket | Kind::RBrace) => depth -= 1,
                        _ if depth == 0 => {
                            if let Some(p) = self.binary_precedence(i, lo) {
                                let better = match best {
                                    None => true,
                                    // `^` is right-associative: its first occurrence splits.
                                    Some((bp, _)) => p < bp || (p == bp && p != 6),
                                };
                                if better {
                                    best = Some((p, i));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if let Some((_, op)) = best {
                    self.walk(&b.lhs, lo, op);
                    let rhs = self.skip_bin_modifiers(op + 1, hi);
                    self.walk(&b.rhs, rhs, hi);
                }
            }
            Expr::Aggregate(a) => {
                let mut i = lo + 1;
                if MODIFIER_WORDS.contains(&self.text(i).to_ascii_lowercase().as_str()) {
                    i = self.closing(i + 1).map_or(hi, |c| c + 1);
                }
                if self.kind(i) == Some(Kind::LParen) {
                    let args = self.split_args(i);
                    let mut it = args.into_iter();
                    if let Some(p) = &a.param {
                        if let Some((s, e)) = it.next() {
                            self.walk(p, s, e);
                        }
                    }
                    if let Some((s, e)) = it.next() {
                        self.walk(&a.expr, s, e);
                    }
                }
            }
            Expr::Call(c) if self.kind(lo + 1) == Some(Kind::LParen) => {
                let args = self.split_args(lo + 1);
                for (arg, (s, e)) in c.args.args.iter().zip(args) {
                    self.walk(arg, s, e);
                }
            }
            _ => {}
        }
    }

    /// Skips `bool`, `on(…)`, `ignoring(…)`, `group_left(…)`, `group_right(…)`, `fill…(…)`.
    fn skip_bin_modifiers(&self, mut i: usize, hi: usize) -> usize {
        while i < hi {
            let w = self.text(i).to_ascii_lowercase();
            if self.kind(i) != Some(Kind::Word) {
                break;
            }
            if w == "bool" {
                i += 1;
            } else if MODIFIER_WORDS.contains(&w.as_str()) {
                i += 1;
                if self.kind(i) == Some(Kind::LParen) {
                    i = self.closing(i).map_or(hi, |c| c + 1);
                }
            } else {
                break;
            }
        }
        i
    }

    /// The token spans of the comma-separated arguments inside the parentheses
    /// opening at `open`.
    fn split_args(&self, open: usize) -> Vec<(usize, usize)> {
        let Some(close) = self.closing(open) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut start = open + 1;
        let mut depth = 0i32;
        for i in open + 1..close {
            match self.kind(i) {
                Some(Kind::LParen | Kind::LBracket | Kind::LBrace) => depth += 1,
                Some(Kind::RParen | Kind::RBracket | Kind::RBrace) => depth -= 1,
                Some(Kind::Comma) if depth == 0 => {
                    out.push((start, i));
                    start = i + 1;
                }
                _ => {}
            }
        }
        if start < close {
            out.push((start, close));
        }
        out
    }
}

/// Byte offset of every node of `root` in `query`, keyed by the node's address.
pub(crate) fn node_offsets(query: &str, root: &Expr) -> HashMap<usize, usize> {
    let toks = tokenize(query);
    let mut close = vec![None; toks.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::LParen | Kind::LBracket | Kind::LBrace => stack.push(i),
            Kind::RParen | Kind::RBracket | Kind::RBrace => {
                if let Some(o) = stack.pop() {
                    close[o] = Some(i);
                }
            }
            _ => {}
        }
    }
    let n = toks.len();
    let mut w = Walker {
        q: query,
        toks,
        close,
        map: HashMap::new(),
    };
    w.walk(root, 0, n);
    w.map
}

/// The selector each extended-range modifier belongs to: the selector (instant or
/// range) starting last before the modifier's offset. Keyed by the address of the
/// selector's `VectorSelector`.
pub(crate) fn selector_extensions(
    query: &str,
    root: &Expr,
    found: &[(usize, super::syntax::Extension)],
) -> HashMap<usize, super::syntax::Extension> {
    let mut out = HashMap::new();
    if found.is_empty() {
        return out;
    }
    let offsets = node_offsets(query, root);
    let mut selectors: Vec<(usize, usize)> = Vec::new();
    collect_selectors(root, &offsets, &mut selectors);
    selectors.sort_unstable();
    for &(at, ext) in found {
        let i = selectors.partition_point(|&(start, _)| start < at);
        if let Some(&(_, vs)) = i.checked_sub(1).and_then(|j| selectors.get(j)) {
            out.insert(vs, ext);
        }
    }
    out
}

fn collect_selectors(e: &Expr, offsets: &HashMap<usize, usize>, out: &mut Vec<(usize, usize)>) {
    let start = offsets.get(&(e as *const Expr as usize)).copied();
    match e {
        Expr::VectorSelector(vs) => {
            if let Some(s) = start {
                out.push((s, vs as *const _ as usize));
            }
        }
        Expr::MatrixSelector(ms) => {
            if let Some(s) = start {
                out.push((s, &ms.vs as *const _ as usize));
            }
        }
        _ => {}
    }
    for c in super::children(e) {
        collect_selectors(c, offsets, out);
    }
}

/// Prometheus's `line:col` for a byte offset: both 1-based, columns counted in bytes.
pub(crate) fn line_col(query: &str, offset: usize) -> String {
    let offset = offset.min(query.len());
    let mut line = 1;
    let mut last_break: isize = -1;
    for (i, b) in query.as_bytes().iter().enumerate().take(offset) {
        if *b == b'\n' {
            line += 1;
            last_break = i as isize;
        }
    }
    format!("{}:{}", line, offset as isize - last_break)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos_of_call_arg(q: &str, arg: usize) -> String {
        let e = promql_parser::parser::parse(q).unwrap();
        let map = node_offsets(q, &e);
        let Expr::Call(c) = &e else { panic!() };
        let a: &Expr = &c.args.args[arg];
        line_col(q, map[&(a as *const Expr as usize)])
    }

    #[test]
    fn call_arguments() {
        assert_eq!(pos_of_call_arg("rate(foo[5m])", 0), "1:6");
        assert_eq!(
            pos_of_call_arg("histogram_quantile(0.5, rate(x[1m]))", 1),
            "1:25"
        );
        assert_eq!(
            pos_of_call_arg("histogram_quantile(NaN, sum by (le) (x))", 0),
            "1:20"
        );
    }

    #[test]
    fn binary_sides() {
        let q = "a + b * -rate(c[1m])";
        let e = promql_parser::parser::parse(q).unwrap();
        let map = node_offsets(q, &e);
        let Expr::Binary(b) = &e else { panic!() };
        let Expr::Binary(r) = b.rhs.as_ref() else {
            panic!()
        };
        let rr: &Expr = &r.rhs;
        assert_eq!(map[&(rr as *const Expr as usize)], 8);
    }

    #[test]
    fn lines_and_columns() {
        assert_eq!(line_col("abc", 0), "1:1");
        assert_eq!(line_col("a\nbc", 3), "2:2");
    }
}
