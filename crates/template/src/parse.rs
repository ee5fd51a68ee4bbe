//! Parser: items to trees, with Go's parse-time checks (defined functions, declared
//! variables, `break` inside `range`, pipeline stage rules) and its error wording.

use std::collections::HashMap;
use std::rc::Rc;

pub(crate) use crate::ast::*;
use crate::goconv;
use crate::lex::{lex, Item, Tok};

/// Deepest nesting of control structures and parentheses accepted, so that hostile
/// templates cannot exhaust the stack while parsing or executing.
pub(crate) const MAX_NESTING: usize = 100;

/// A parse failure: the line it was detected on and Go's message text.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub line: usize,
    pub msg: String,
}

type PResult<T> = Result<T, ParseError>;

enum ListEnd {
    End,
    Else,
}

/// Parses `src` into its top-level tree plus every `define`/`block` tree, keyed by name.
pub(crate) fn parse(
    name: &str,
    src: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> PResult<HashMap<String, Rc<Tree>>> {
    let src_rc: Rc<str> = Rc::from(src);
    let mut p = Parser {
        items: lex(src),
        i: 0,
        is_func,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        parse_name: name.to_string(),
        src: src_rc.clone(),
        trees: HashMap::new(),
    };
    let mut root = Vec::new();
    loop {
        if matches!(p.peek().kind, Tok::Eof) {
            break;
        }
        if matches!(p.peek().kind, Tok::LeftDelim) {
            let save = p.i;
            p.next();
            if matches!(p.next_non_space().kind, Tok::Keyword("define")) {
                p.parse_definition()?;
                continue;
            }
            p.i = save;
        }
        match p.text_or_action()? {
            Err(ListEnd::End) => return Err(p.err("unexpected {{end}}")),
            Err(ListEnd::Else) => return Err(p.err("unexpected {{else}}")),
            Ok(n) => root.push(n),
        }
    }
    let tree = Tree {
        name: name.to_string(),
        parse_name: name.to_string(),
        src: src_rc,
        root,
    };
    p.add(tree)?;
    Ok(p.trees)
}

struct Parser<'a> {
    items: Vec<Item>,
    i: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    parse_name: String,
    src: Rc<str>,
    trees: HashMap<String, Rc<Tree>>,
}

fn item_desc(it: &Item) -> String {
    let val = match &it.kind {
        Tok::Eof => return "EOF".into(),
        Tok::Error(m) => return m.clone(),
        Tok::Keyword(k) => return format!("<{k}>"),
        Tok::Nil => return "<nil>".into(),
        Tok::Text(s)
        | Tok::Field(s)
        | Tok::Variable(s)
        | Tok::Identifier(s)
        | Tok::Number(s)
        | Tok::CharConst(s)
        | Tok::Str(s)
        | Tok::RawStr(s) => s.clone(),
        Tok::LeftDelim => "{{".into(),
        Tok::RightDelim => "}}".into(),
        Tok::Space => " ".into(),
        Tok::Pipe => "|".into(),
        Tok::LeftParen => "(".into(),
        Tok::RightParen => ")".into(),
        Tok::Assign => "=".into(),
        Tok::Declare => ":=".into(),
        Tok::Comma => ",".into(),
        Tok::Dot => ".".into(),
        Tok::Bool(b) => b.to_string(),
    };
    if val.chars().count() > 10 {
        let short: String = val.chars().take(10).collect();
        format!("{}...", goconv::quote(&short))
    } else {
        goconv::quote(&val)
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Item {
        &self.items[self.i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        self.i += 1;
        it
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.kind != Tok::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.i -= 1;
        it
    }

    fn last_line(&self) -> usize {
        self.items[self.i.saturating_sub(1).min(self.items.len() - 1)].line
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError {
            line: self.last_line(),
            msg: msg.into(),
        }
    }

    fn unexpected(&self, it: &Item, context: &str) -> ParseError {
        if let Tok::Error(m) = &it.kind {
            return ParseError {
                line: it.line,
                msg: m.clone(),
            };
        }
        ParseError {
            line: it.line,
            msg: format!("unexpected {} in {context}", item_desc(it)),
        }
    }

    fn expect_right_delim(&mut self, context: &str) -> PResult<Item> {
        let it = self.next_non_space();
        if it.kind != Tok::RightDelim {
            return Err(self.unexpected(&it, context));
        }
        Ok(it)
    }

    fn add(&mut self, tree: Tree) -> PResult<()> {
        match self.trees.get(&tree.name) {
            Some(old) if !old.is_empty() => {
                if !tree.is_empty() {
                    return Err(self.err(format!(
                        "template: multiple definition of template {}",
                        goconv::quote(&tree.name)
                    )));
                }
            }
            _ => {
                self.trees.insert(tree.name.clone(), Rc::new(tree));
            }
        }
        Ok(())
    }

    fn new_tree(&self, name: String, root: Vec<Node>) -> Tree {
        Tree {
            name,
            parse_name: self.parse_name.clone(),
            src: self.src.clone(),
            root,
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, context)?;
        self.expect_right_delim(context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if !matches!(end, ListEnd::End) {
            return Err(self.err(format!("unexpected {{{{else}}}} in {context}")));
        }
        let tree = self.new_tree(name, list);
        self.add(tree)
    }

    fn template_name(&self, tok: &Item, context: &str) -> PResult<String> {
        match &tok.kind {
            Tok::Str(s) | Tok::RawStr(s) => goconv::unquote(s).map_err(|_| ParseError {
                line: tok.line,
                msg: "invalid syntax".into(),
            }),
            _ => Err(self.unexpected(tok, context)),
        }
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Tok::Eof {
            match self.text_or_action()? {
                Ok(n) => list.push(n),
                Err(end) => return Ok((list, end)),
            }
        }
        Err(self.err("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let it = self.next_non_space();
        match it.kind {
            Tok::Text(t) => Ok(Ok(Node::Text(t))),
            Tok::LeftDelim => self.action(),
            _ => Err(self.unexpected(&it, "input")),
        }
    }

    fn action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let it = self.next_non_space();
        match it.kind {
            Tok::Keyword("block") => return self.block_control().map(Ok),
            Tok::Keyword(kw @ ("break" | "continue")) => {
                if self.range_depth == 0 {
                    return Err(self.err(format!("{{{{{kw}}}}} outside {{{{range}}}}")));
                }
                self.expect_right_delim(&format!("{{{{{kw}}}}}"))?;
                return Ok(Ok(if kw == "break" {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Tok::Keyword("else") => {
                let peek = self.peek_non_space();
                if !matches!(peek.kind, Tok::Keyword("if" | "with")) {
                    self.expect_right_delim("else")?;
                }
                return Ok(Err(ListEnd::Else));
            }
            Tok::Keyword("end") => {
                self.expect_right_delim("end")?;
                return Ok(Err(ListEnd::End));
            }
            Tok::Keyword(kw @ ("if" | "range" | "with")) => return self.control(kw).map(Ok),
            Tok::Keyword("template") => return self.template_control().map(Ok),
            _ => {}
        }
        self.i -= 1;
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Ok(Node::Action(pipe)))
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(format!("max nesting depth {MAX_NESTING} exceeded")));
        }
        Ok(())
    }

    fn control(&mut self, kw: &'static str) -> PResult<Node> {
        self.enter()?;
        let nvars = self.vars.len();
        let pipe = self.pipeline(kw, Tok::RightDelim)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let ListEnd::Else = end {
            let peek = self.peek_non_space();
            let chained = match (kw, &peek.kind) {
                ("if", Tok::Keyword("if")) | ("with", Tok::Keyword("with")) => true,
                (_, Tok::Keyword("if" | "with")) => {
                    // `{{else if}}` inside `with` (or vice versa) is not a chain in Go.
                    return Err(self.unexpected(&peek, "else"));
                }
                _ => false,
            };
            if chained {
                self.next_non_space();
                let inner = self.control(kw)?;
                else_list = Some(vec![inner]);
            } else {
                let (el, end2) = self.item_list()?;
                if !matches!(end2, ListEnd::End) {
                    return Err(self.err("expected end; found {{else}}"));
                }
                else_list = Some(el);
            }
        }
        self.vars.truncate(nvars);
        self.depth -= 1;
        let b = Branch {
            pipe,
            list,
            else_list,
        };
        Ok(match kw {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        })
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, context)?;
        let pipe = if self.peek_non_space().kind == Tok::RightDelim {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline(context, Tok::RightDelim)?)
        };
        Ok(Node::Template {
            pos: tok.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        self.enter()?;
        let tok = self.next_non_space();
        let name = self.template_name(&tok, context)?;
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if !matches!(end, ListEnd::End) {
            return Err(self.err(format!("unexpected {{{{else}}}} in {context}")));
        }
        let tree = self.new_tree(name.clone(), list);
        self.add(tree)?;
        self.depth -= 1;
        Ok(Node::Template {
            pos: tok.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        self.enter()?;
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = &v.kind else { break };
            let save = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.kind == Tok::Assign;
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    break;
                }
                Tok::Comma => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        let p = self.peek_non_space();
                        if matches!(p.kind, Tok::Variable(_) | Tok::RightDelim | Tok::RightParen) {
                            continue;
                        }
                        return Err(self.err("range can only initialize variables"));
                    }
                    return Err(self.err(format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let tok = self.next_non_space();
            if tok.kind == end {
                if pipe.cmds.is_empty() {
                    return Err(self.err(format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Arg::Bool(..)
                            | Arg::Dot(_)
                            | Arg::Nil(_)
                            | Arg::Number(..)
                            | Arg::Str { .. }
                    ) {
                        return Err(self.err(format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        )));
                    }
                }
                self.depth -= 1;
                return Ok(pipe);
            }
            match tok.kind {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Identifier(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&tok, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let tok = self.next();
            match tok.kind {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.i -= 1,
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&tok, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.err("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if !matches!(self.peek().kind, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().kind {
            fields.push(f[1..].to_string());
            self.next();
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field {
                    pos: chain_pos,
                    idents,
                }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable {
                    pos: chain_pos,
                    idents,
                }
            }
            n @ (Arg::Bool(..) | Arg::Str { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_)) => {
                return Err(self.err(format!(
                    "unexpected . after term {}",
                    goconv::quote(&n.to_string())
                )));
            }
            n => Arg::Chain {
                pos: chain_pos,
                node: Box::new(n),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let tok = self.next_non_space();
        let pos = tok.pos;
        Ok(Some(match tok.kind {
            Tok::Identifier(name) => {
                if !(self.is_func)(&name) {
                    return Err(self.err(format!("function {} not defined", goconv::quote(&name))));
                }
                Arg::Ident { pos, name }
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(v) => {
                let mut parts = v.split('.');
                let head = parts.next().unwrap_or("$").to_string();
                if !self.vars.contains(&head) {
                    return Err(self.err(format!("undefined variable {}", goconv::quote(&head))));
                }
                let mut idents = vec![head];
                idents.extend(parts.map(str::to_string));
                Arg::Variable { pos, idents }
            }
            Tok::Field(f) => Arg::Field {
                pos,
                idents: f[1..].split('.').map(str::to_string).collect(),
            },
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Number(text) => Arg::Number(pos, Box::new(self.number(text, false)?)),
            Tok::CharConst(text) => Arg::Number(pos, Box::new(self.number(text, true)?)),
            Tok::LeftParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", Tok::RightParen)?,
            )),
            Tok::Str(q) | Tok::RawStr(q) => {
                let text = goconv::unquote(&q).map_err(|_| self.err("invalid syntax"))?;
                Arg::Str {
                    pos,
                    quoted: q,
                    text,
                }
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }

    fn number(&self, text: String, is_char: bool) -> PResult<Number> {
        if is_char {
            let c = goconv::unquote_char_const(&text)
                .map_err(|_| self.err(format!("malformed character constant: {text}")))?;
            let v = c as i64;
            return Ok(Number {
                text,
                int: Some(v),
                uint: Some(v as u64),
                float: Some(v as f64),
                is_char: true,
            });
        }
        if text.ends_with('i') {
            return Err(self.err(format!("illegal number syntax: {}", goconv::quote(&text))));
        }
        let parsed = goconv::parse_int_literal(&text);
        let mut n = Number {
            text: text.clone(),
            int: None,
            uint: None,
            float: None,
            is_char: false,
        };
        if let Some((v, signed)) = parsed {
            if !signed && (0..=u64::MAX as i128).contains(&v) {
                n.uint = Some(v as u64);
            }
            if (i64::MIN as i128..=i64::MAX as i128).contains(&v) {
                n.int = Some(v as i64);
                if v == 0 {
                    n.uint = Some(0);
                }
            }
        }
        if let Some(i) = n.int {
            n.float = Some(i as f64);
        } else if let Some(u) = n.uint {
            n.float = Some(u as f64);
        } else if let Ok(f) = goconv::parse_float(&text) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(self.err(format!("integer overflow: {}", goconv::quote(&text))));
            }
            n.float = Some(f);
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                n.int = Some(f as i64);
            }
            if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                n.uint = Some(f as u64);
            }
        }
        if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
            return Err(self.err(format!("illegal number syntax: {}", goconv::quote(&text))));
        }
        Ok(n)
    }
}
