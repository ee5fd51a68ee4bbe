//! Tokenizer for template text, following the item rules of Go's `text/template/parse` lexer.

/// One lexical item. `pos` is a byte offset into the source, `line` is 1-based.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub kind: Tok,
    pub pos: usize,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    LeftParen,
    RightParen,
    Assign,
    Declare,
    Comma,
    Field(String),
    Variable(String),
    Dot,
    Identifier(String),
    Keyword(&'static str),
    Bool(bool),
    Nil,
    Number(String),
    CharConst(String),
    Str(String),
    RawStr(String),
    Error(String),
    Eof,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Go's `%#U` rendering of a rune, used in "unrecognized character" errors.
pub(crate) fn go_rune_u(c: char) -> String {
    let printable = !c.is_control() && (c == ' ' || !c.is_whitespace()) && c != '\u{feff}';
    if printable {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Splits template source into items. Lexing stops at the first error, which becomes the
/// final `Tok::Error` item, so the parser reports it exactly when it reaches that point.
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut lx = Lexer {
        src,
        pos: 0,
        items: Vec::new(),
        paren_depth: 0,
    };
    lx.run();
    lx.items
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    items: Vec<Item>,
    paren_depth: usize,
}

impl Lexer<'_> {
    fn line_at(&self, pos: usize) -> usize {
        1 + self.src[..pos.min(self.src.len())].matches('\n').count()
    }

    fn emit(&mut self, kind: Tok, pos: usize) {
        let line = self.line_at(pos);
        self.items.push(Item { kind, pos, line });
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn run(&mut self) {
        loop {
            if !self.lex_text() {
                return;
            }
            if !self.lex_action() {
                return;
            }
        }
    }

    /// Emits the text up to the next `{{`; returns false at end of input.
    fn lex_text(&mut self) -> bool {
        let start = self.pos;
        match self.rest().find("{{") {
            Some(off) => {
                let delim = self.pos + off;
                let mut text_end = delim;
                let trim = self.src[delim + 2..].starts_with('-')
                    && self.src[delim + 3..].starts_with(is_space);
                if trim {
                    text_end = start + self.src[start..delim].trim_end_matches(is_space).len();
                }
                if text_end > start {
                    self.emit(Tok::Text(self.src[start..text_end].to_string()), start);
                }
                self.pos = delim;
                true
            }
            None => {
                if self.pos < self.src.len() {
                    self.emit(Tok::Text(self.src[start..].to_string()), start);
                }
                self.pos = self.src.len();
                self.emit(Tok::Eof, self.pos);
                false
            }
        }
    }

    /// Checks for a right delimiter (optionally with a trim marker) at the current position.
    fn at_right_delim(&self) -> Option<(bool, usize)> {
        let r = self.rest();
        if r.starts_with(is_space) {
            let after = &r[1..];
            if after.starts_with("-}}") {
                return Some((true, 4));
            }
        }
        if r.starts_with("}}") {
            return Some((false, 2));
        }
        None
    }

    fn finish_right_delim(&mut self, trim: bool, len: usize) {
        let at = if trim { self.pos + 2 } else { self.pos };
        self.emit(Tok::RightDelim, at);
        self.pos += len;
        if trim {
            let skip = self.rest().len() - self.rest().trim_start_matches(is_space).len();
            self.pos += skip;
        }
    }

    fn error(&mut self, msg: String) -> bool {
        let pos = self.pos;
        self.emit(Tok::Error(msg), pos);
        false
    }

    /// Lexes one `{{ … }}` action; returns false when lexing must stop.
    fn lex_action(&mut self) -> bool {
        let start = self.pos;
        self.pos += 2;
        let trim = self.rest().starts_with('-') && self.src[self.pos + 1..].starts_with(is_space);
        if trim {
            self.pos += 2;
        }
        // Comments are recognised only right after the delimiter (and its trim marker).
        if self.rest().starts_with("/*") {
            let cpos = self.pos;
            return self.lex_comment(cpos);
        }
        self.emit(Tok::LeftDelim, start);
        self.paren_depth = 0;
        self.lex_inside()
    }

    fn lex_comment(&mut self, cpos: usize) -> bool {
        let body = &self.src[cpos + 2..];
        let Some(end) = body.find("*/") else {
            self.pos = self.src.len();
            return self.error("unclosed comment".into());
        };
        self.pos = cpos + 2 + end + 2;
        match self.at_right_delim() {
            Some((trim, len)) => {
                self.pos += len;
                if trim {
                    let skip = self.rest().len() - self.rest().trim_start_matches(is_space).len();
                    self.pos += skip;
                }
                true
            }
            None => self.error("comment ends before closing delimiter".into()),
        }
    }

    fn lex_inside(&mut self) -> bool {
        loop {
            if let Some((trim, len)) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    return self.error("unclosed left paren".into());
                }
                self.finish_right_delim(trim, len);
                return true;
            }
            let Some(c) = self.peek() else {
                return self.error("unclosed action".into());
            };
            let start = self.pos;
            match c {
                c if is_space(c) => {
                    while self.peek().is_some_and(is_space) && self.at_right_delim().is_none() {
                        self.pos += 1;
                    }
                    self.emit(Tok::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                ':' => {
                    if self.src[self.pos + 1..].starts_with('=') {
                        self.pos += 2;
                        self.emit(Tok::Declare, start);
                    } else {
                        return self.error("expected :=".into());
                    }
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(Tok::Comma, start);
                }
                '"' => {
                    if !self.lex_quote() {
                        return false;
                    }
                }
                '`' => {
                    self.pos += 1;
                    match self.rest().find('`') {
                        Some(end) => {
                            self.pos += end + 1;
                            let text = self.src[start..self.pos].to_string();
                            self.emit(Tok::RawStr(text), start);
                        }
                        None => {
                            self.pos = self.src.len();
                            return self.error("unterminated raw quoted string".into());
                        }
                    }
                }
                '\'' => {
                    if !self.lex_char() {
                        return false;
                    }
                }
                '$' => {
                    if !self.lex_field_or_var(true) {
                        return false;
                    }
                }
                '.' => {
                    let next = self.src[self.pos + 1..].chars().next();
                    if next.is_some_and(|n| n.is_ascii_digit()) {
                        if !self.lex_number() {
                            return false;
                        }
                    } else if !self.lex_field_or_var(false) {
                        return false;
                    }
                }
                '+' | '-' | '0'..='9' => {
                    if !self.lex_number() {
                        return false;
                    }
                }
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, start);
                }
                ')' => {
                    self.pos += 1;
                    if self.paren_depth == 0 {
                        return self.error("unexpected right paren".into());
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen, start);
                }
                c if is_alnum(c) => {
                    while self.peek().is_some_and(is_alnum) {
                        self.pos += self.peek().map_or(1, char::len_utf8);
                    }
                    if !self.at_terminator() {
                        let bad = self.peek().unwrap_or(' ');
                        return self.error(format!("bad character {}", go_rune_u(bad)));
                    }
                    let word = &self.src[start..self.pos];
                    let tok = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Identifier(w.to_string()),
                        },
                    };
                    self.emit(tok, start);
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.pos += 1;
                    return self.error(format!(
                        "unrecognized character in action: {}",
                        go_rune_u(c)
                    ));
                }
                c => {
                    return self.error(format!(
                        "unrecognized character in action: {}",
                        go_rune_u(c)
                    ));
                }
            }
        }
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(' | '=') => true,
            Some(_) => self.rest().starts_with("}}"),
        }
    }

    fn lex_field_or_var(&mut self, var: bool) -> bool {
        let start = self.pos;
        self.pos += 1;
        if self.at_terminator() {
            self.emit(
                if var {
                    Tok::Variable("$".into())
                } else {
                    Tok::Dot
                },
                start,
            );
            return true;
        }
        while self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        if !self.at_terminator() {
            let bad = self.peek().unwrap_or(' ');
            return self.error(format!("bad character {}", go_rune_u(bad)));
        }
        let text = self.src[start..self.pos].to_string();
        self.emit(
            if var {
                Tok::Variable(text)
            } else {
                Tok::Field(text)
            },
            start,
        );
        true
    }

    fn lex_quote(&mut self) -> bool {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') | None => {
                            return self.error("unterminated quoted string".into());
                        }
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('\n') | None => return self.error("unterminated quoted string".into()),
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        let text = self.src[start..self.pos].to_string();
        self.emit(Tok::Str(text), start);
        true
    }

    fn lex_char(&mut self) -> bool {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') | None => {
                            return self.error("unterminated character constant".into());
                        }
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('\n') | None => {
                    return self.error("unterminated character constant".into());
                }
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        let text = self.src[start..self.pos].to_string();
        self.emit(Tok::CharConst(text), start);
        true
    }

    fn lex_number(&mut self) -> bool {
        let start = self.pos;
        let b = self.src.as_bytes();
        let mut i = self.pos;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut exp: &[u8] = b"eE";
        if i + 1 < b.len() && b[i] == b'0' {
            match b[i + 1] {
                b'x' | b'X' => {
                    i += 2;
                    digits = b"0123456789abcdefABCDEF_";
                    exp = b"pP";
                }
                b'o' | b'O' => {
                    i += 2;
                    digits = b"01234567_";
                    exp = b"";
                }
                b'b' | b'B' => {
                    i += 2;
                    digits = b"01_";
                    exp = b"";
                }
                _ => {}
            }
        }
        while i < b.len() && digits.contains(&b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && digits.contains(&b[i]) {
                i += 1;
            }
        }
        if !exp.is_empty() && i < b.len() && exp.contains(&b[i]) {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            while i < b.len() && b"0123456789_".contains(&b[i]) {
                i += 1;
            }
        }
        if i < b.len() && b[i] == b'i' {
            i += 1;
        }
        self.pos = i;
        if let Some(c) = self.peek().filter(|c| is_alnum(*c)) {
            self.pos += c.len_utf8();
            let text = self.src[start..self.pos].to_string();
            return self.error(format!(
                "bad number syntax: {}",
                crate::goconv::quote(&text)
            ));
        }
        let text = self.src[start..self.pos].to_string();
        self.emit(Tok::Number(text), start);
        true
    }
}
