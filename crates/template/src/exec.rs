//! Evaluator: walks trees against data the way Go's `text/template` `state` does, including
//! which node an error is attributed to (Go reports the last node it visited).

use std::rc::Rc;

use crate::func::{Function, Ty};
use crate::goconv;
use crate::gofmt;
use crate::gotime;
use crate::html::{HtmlCtx, Predef};
use crate::parse::{Arg, Branch, Command, Node, Number, Pipe, Tree};
use crate::template::{MissingKey, Template};
use crate::value::{MapKind, NativeFn, Value};
use crate::TemplateError;

mod call;

/// What a function sees of the running template: lets `tmpl`-style helpers execute a named
/// template within the same depth and size limits.
pub struct CallCtx<'s, 't> {
    pub(crate) tmpl: &'s Template<'t>,
    pub(crate) depth: usize,
    pub(crate) html: bool,
}

impl CallCtx<'_, '_> {
    /// Executes the named template with `data`, returning its output or Go's error text.
    pub fn execute_template(&mut self, name: &str, data: Value) -> Result<String, String> {
        run(self.tmpl, name, data, self.depth + 1, self.html).map_err(|e| e.to_string())
    }

    /// Whether the running template escapes output as HTML.
    pub fn is_html(&self) -> bool {
        self.html
    }
}

pub(crate) enum Flow {
    Break,
    Continue,
    Err(Box<TemplateError>),
}

type R<T> = Result<T, Flow>;

#[derive(Clone, Copy)]
enum At<'s> {
    Arg(&'s Arg),
    Cmd(&'s Command),
    Pipe(&'s Pipe),
    Action(&'s Pipe),
    Tmpl(usize, &'s str, Option<&'s Pipe>),
    Range(&'s Pipe),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Arg(a) => a.pos(),
            At::Cmd(c) => c.pos,
            At::Pipe(p) | At::Action(p) | At::Range(p) => p.pos,
            At::Tmpl(pos, ..) => *pos,
        }
    }

    fn context(&self) -> String {
        match self {
            At::Arg(a) => a.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Action(p) => format!("{{{{{p}}}}}"),
            At::Range(p) => format!("{{{{range {p}}}}}"),
            At::Tmpl(_, name, pipe) => match pipe {
                Some(p) => format!("{{{{template {} {p}}}}}", goconv::quote(name)),
                None => format!("{{{{template {}}}}}", goconv::quote(name)),
            },
        }
    }
}

enum Invoke<'s, 't> {
    Func(&'s Rc<NativeFn<'t>>),
    /// A method registered on a named type; the receiver is passed first.
    Bound(&'s Rc<NativeFn<'t>>, Value),
    Method(fn(&Value, &[Value]) -> Result<Value, String>, Value),
}

struct State<'s, 't> {
    t: &'s Template<'t>,
    name: &'s str,
    tree: &'s Tree,
    node: Option<At<'s>>,
    vars: Vec<(String, Value)>,
    depth: usize,
    out: String,
    html: Option<HtmlCtx>,
}

/// Executes template `name` of `t` with `data` bound to `.` and `$`.
pub(crate) fn run(
    t: &Template<'_>,
    name: &str,
    data: Value,
    depth: usize,
    html: bool,
) -> Result<String, TemplateError> {
    let Some(tree) = t.trees.get(name) else {
        return Err(TemplateError::NoTemplate {
            name: name.to_string(),
            set: t.name.clone(),
        });
    };
    let mut st = State {
        t,
        name: &tree.name,
        tree,
        node: None,
        vars: vec![("$".into(), data.clone())],
        depth,
        out: String::new(),
        html: if html { Some(HtmlCtx::default()) } else { None },
    };
    if depth > t.limits.max_depth {
        return Err(st.make_error(format!(
            "exceeded maximum template depth ({})",
            t.limits.max_depth
        )));
    }
    match st.walk_list(&data, &tree.root) {
        Ok(()) | Err(Flow::Break) | Err(Flow::Continue) => Ok(st.out),
        Err(Flow::Err(e)) => Err(*e),
    }
}

impl<'s, 't> State<'s, 't> {
    fn at(&mut self, at: At<'s>) {
        self.node = Some(at);
    }

    fn make_error(&self, msg: String) -> TemplateError {
        match &self.node {
            None => TemplateError::Exec {
                location: None,
                name: self.name.to_string(),
                context: String::new(),
                msg,
            },
            Some(at) => {
                let pos = at.pos().min(self.tree.src.len());
                let text = self.tree.src.get(..pos).unwrap_or("");
                let (line, col) = match text.rfind('\n') {
                    None => (1, pos),
                    Some(nl) => (1 + text.matches('\n').count(), pos - (nl + 1)),
                };
                TemplateError::Exec {
                    location: Some(format!("{}:{line}:{col}", self.tree.parse_name)),
                    name: self.name.to_string(),
                    context: at.context(),
                    msg,
                }
            }
        }
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(Flow::Err(Box::new(self.make_error(msg.into()))))
    }

    fn write_text(&mut self, s: &str) -> R<()> {
        match &mut self.html {
            Some(ctx) => {
                let filtered = ctx.feed_text(s);
                self.out.push_str(&filtered);
            }
            None => self.out.push_str(s),
        }
        self.check_size()
    }

    fn check_size(&self) -> R<()> {
        if self.out.len() > self.t.limits.max_output {
            return self.errorf(format!(
                "output exceeds the limit of {} bytes",
                self.t.limits.max_output
            ));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'s [Node]) -> R<()> {
        for n in list {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.t.limits.max_depth {
            return self.errorf(format!(
                "exceeded maximum template depth ({})",
                self.t.limits.max_depth
            ));
        }
        Ok(())
    }

    fn step(&self) -> R<()> {
        let steps = self.t.steps.get() + 1;
        self.t.steps.set(steps);
        if steps > self.t.limits.max_steps {
            return self.errorf(format!(
                "execution exceeds the limit of {} steps",
                self.t.limits.max_steps
            ));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'s Node) -> R<()> {
        self.step()?;
        match node {
            Node::Text(t) => self.write_text(t),
            Node::Action(p) => {
                self.at(At::Action(p));
                if p.decl.is_empty() && self.html.is_some() {
                    if let Some(done) = self.print_with_predefined_escapers(dot, p)? {
                        return Ok(done);
                    }
                }
                let v = self.eval_pipeline(dot, p)?;
                if p.decl.is_empty() {
                    self.print_value(p, v)?;
                }
                Ok(())
            }
            Node::If(b) => self.walk_if_with(dot, b, false),
            Node::With(b) => self.walk_if_with(dot, b, true),
            Node::Range(b) => self.walk_range(dot, b),
            Node::Template { pos, name, pipe } => {
                self.walk_template(dot, *pos, name, pipe.as_ref())
            }
            Node::Break => Err(Flow::Break),
            Node::Continue => Err(Flow::Continue),
        }
    }

    fn print_value(&mut self, p: &'s Pipe, v: Value) -> R<()> {
        if let Value::Func(_) = v {
            self.at(At::Action(p));
            return self.errorf(format!("can't print {{{{{p}}}}} of type {}", v.type_name()));
        }
        let s = match &mut self.html {
            Some(ctx) => ctx.escape(&v),
            None => match v {
                Value::Nil => "<no value>".to_string(),
                v => gofmt::sprint(&[v]),
            },
        };
        self.out.push_str(&s);
        self.check_size()
    }

    /// HTML mode for pipelines using `html` or `urlquery`: Go's `html/template` merges
    /// those with its contextual escapers instead of escaping their output again. Returns
    /// `None` when the ordinary path applies.
    fn print_with_predefined_escapers(&mut self, dot: &Value, p: &'s Pipe) -> R<Option<()>> {
        let name_of = |c: &Command| match c.args.first() {
            Some(Arg::Ident { name, .. }) => Predef::from_name(name),
            _ => None,
        };
        let present: Vec<Predef> = p.cmds.iter().filter_map(name_of).collect();
        if present.is_empty() {
            return Ok(None);
        }
        let Some(last_cmd) = p.cmds.last() else {
            return Ok(None);
        };
        // `{{urlquery}}` alone has no input to move the escaper onto; Go rejects or
        // prints it as text/template does, which the ordinary path reproduces.
        let last = name_of(last_cmd).filter(|_| p.cmds.len() > 1 || last_cmd.args.len() > 1);
        let Some(plan) = self.html.as_ref().and_then(|h| h.plan(last, &present)) else {
            return Ok(None);
        };
        let v = if plan.moved {
            if p.cmds.len() == 1 {
                // `{{urlquery a b}}` becomes `{{_eval_args_ a b | urlquery}}`.
                let mut vals = Vec::with_capacity(last_cmd.args.len() - 1);
                for a in &last_cmd.args[1..] {
                    vals.push(self.eval_arg(dot, Ty::Any, a)?);
                }
                Value::str(crate::func::eval_args(&vals))
            } else {
                self.enter()?;
                let mut value = None;
                for cmd in &p.cmds[..p.cmds.len() - 1] {
                    match self.eval_command(dot, cmd, value) {
                        Ok(v) => value = Some(v),
                        Err(e) => {
                            self.depth -= 1;
                            return Err(e);
                        }
                    }
                }
                self.depth -= 1;
                value.unwrap_or(Value::Nil)
            }
        } else {
            self.eval_pipeline(dot, p)?
        };
        if let Value::Func(_) = v {
            self.at(At::Action(p));
            return self.errorf(format!("can't print {{{{{p}}}}} of type {}", v.type_name()));
        }
        let s = match &mut self.html {
            Some(ctx) => ctx.escape_planned(&v, &plan),
            None => return Ok(None),
        };
        self.out.push_str(&s);
        self.check_size()?;
        Ok(Some(()))
    }

    fn walk_if_with(&mut self, dot: &Value, b: &'s Branch, with: bool) -> R<()> {
        self.enter()?;
        let mark = self.vars.len();
        let r = (|| {
            let v = self.eval_pipeline(dot, &b.pipe)?;
            if v.is_true() {
                let d = if with { &v } else { dot };
                self.walk_list(d, &b.list)
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        self.depth -= 1;
        r
    }

    fn set_top_var(&mut self, n: usize, v: Value) {
        let len = self.vars.len();
        if n <= len {
            self.vars[len - n].1 = v;
        }
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn walk_range(&mut self, dot: &Value, b: &'s Branch) -> R<()> {
        self.enter()?;
        let outer = self.vars.len();
        let r = self.range_inner(dot, b);
        self.vars.truncate(outer);
        self.depth -= 1;
        match r {
            Err(Flow::Break) => Ok(()),
            other => other,
        }
    }

    fn range_inner(&mut self, dot: &Value, b: &'s Branch) -> R<()> {
        self.at(At::Range(&b.pipe));
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let mut ran = false;
        match &val {
            Value::List(l) => {
                for (i, e) in l.items.iter().enumerate() {
                    ran = true;
                    if self.iteration(b, mark, Value::Int(i as i64), e.clone())? {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, e) in &m.entries {
                    ran = true;
                    if self.iteration(b, mark, Value::str(k), e.clone())? {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return self.errorf(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                for i in 0..*n {
                    ran = true;
                    if self.iteration(b, mark, Value::Int(i), Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                let shown = gofmt::sprint(std::slice::from_ref(other));
                return self.errorf(format!("range can't iterate over {shown}"));
            }
        }
        if !ran {
            if let Some(e) = &b.else_list {
                return self.walk_list(dot, e);
            }
        }
        Ok(())
    }

    /// Runs one range iteration; returns true when `{{break}}` ended the loop.
    fn iteration(&mut self, b: &'s Branch, mark: usize, idx: Value, elem: Value) -> R<bool> {
        self.step()?;
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                let first = if decl.len() > 1 {
                    idx.clone()
                } else {
                    elem.clone()
                };
                self.set_var(&decl[0], first)?;
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if b.pipe.is_assign {
                self.set_var(&decl[1], elem.clone())?;
            } else {
                self.set_top_var(2, idx);
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        match r {
            Ok(()) | Err(Flow::Continue) => Ok(false),
            Err(Flow::Break) => Ok(true),
            Err(other) => Err(other),
        }
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &'s str,
        pipe: Option<&'s Pipe>,
    ) -> R<()> {
        self.at(At::Tmpl(pos, name, pipe));
        let Some(tree) = self.t.trees.get(name) else {
            return self.errorf(format!("template {} not defined", goconv::quote(name)));
        };
        if self.depth >= self.t.limits.max_depth {
            return self.errorf(format!(
                "exceeded maximum template depth ({})",
                self.t.limits.max_depth
            ));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let saved = (self.name, self.tree, self.node);
        self.name = &tree.name;
        self.tree = tree;
        self.depth += 1;
        let r = self.walk_list(&new_dot, &tree.root);
        self.depth -= 1;
        self.vars = saved_vars;
        if r.is_ok() {
            (self.name, self.tree, self.node) = saved;
        }
        match r {
            Err(Flow::Break) | Err(Flow::Continue) => Ok(()),
            other => other,
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, p: &'s Pipe) -> R<Value> {
        self.at(At::Pipe(p));
        // Pipelines nest through parentheses and `tmpl`-style calls; count them with
        // control structures so the whole recursion stays within one bound.
        self.enter()?;
        let mut value: Option<Value> = None;
        for cmd in &p.cmds {
            match self.eval_command(dot, cmd, value) {
                Ok(v) => value = Some(v),
                Err(e) => {
                    self.depth -= 1;
                    return Err(e);
                }
            }
        }
        self.depth -= 1;
        let value = value.unwrap_or(Value::Nil);
        for v in &p.decl {
            if p.is_assign {
                self.set_var(v, value.clone())?;
            } else {
                self.vars.push((v.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'s Command, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at(At::Arg(first));
                self.eval_field_chain(
                    dot,
                    dot.clone(),
                    At::Arg(first),
                    idents,
                    Some(&cmd.args),
                    fin,
                )
            }
            Arg::Chain { .. } => self.eval_chain(dot, first, Some(&cmd.args), fin),
            Arg::Ident { name, .. } => {
                self.eval_function(dot, first, name, At::Cmd(cmd), Some(&cmd.args), fin)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Variable { .. } => self.eval_variable(dot, first, Some(&cmd.args), fin),
            _ => {
                self.at(At::Arg(first));
                self.not_a_function(&cmd.args, &fin)?;
                match first {
                    Arg::Bool(_, b) => Ok(Value::Bool(*b)),
                    Arg::Dot(_) => Ok(dot.clone()),
                    Arg::Nil(_) => self.errorf("nil is not a command"),
                    Arg::Number(_, n) => self.ideal_constant(n),
                    Arg::Str { text, .. } => Ok(Value::str(text)),
                    _ => self.errorf(format!(
                        "can't evaluate command {}",
                        goconv::quote(&first.to_string())
                    )),
                }
            }
        }
    }

    fn ideal_constant(&self, n: &Number) -> R<Value> {
        let t = &n.text;
        let is_hex_int = t.len() > 2
            && t.starts_with('0')
            && matches!(t.as_bytes()[1], b'x' | b'X')
            && !t.contains(['p', 'P']);
        if let Some(f) = n.float {
            if !is_hex_int && !n.is_char && t.contains(['.', 'e', 'E', 'p', 'P']) {
                return Ok(Value::Float(f));
            }
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        if n.uint.is_some() {
            return self.errorf(format!("{t} overflows int"));
        }
        Ok(Value::Nil)
    }

    fn lookup(&self, name: &str) -> Option<(&'s Function<'t>, bool)> {
        if let Some(f) = self.t.funcs.get(name) {
            return Some((f, false));
        }
        self.t.builtins.get(name).map(|f| (f, true))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'s Arg,
        name: &'s str,
        node: At<'s>,
        args: Option<&'s [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(ident));
        let Some((f, builtin)) = self.lookup(name) else {
            return self.errorf(format!("{} is not a defined function", goconv::quote(name)));
        };
        let args = args.map(|a| &a[1..]).unwrap_or(&[]);
        if builtin && crate::func::SPECIAL.contains(&name) && name != "call" {
            return self.eval_and_or(dot, name, args, fin);
        }
        if builtin && name == "call" {
            return self.eval_builtin_call(dot, node, args, fin);
        }
        self.eval_call(
            dot,
            &f.params,
            f.variadic,
            Invoke::Func(&f.f),
            node,
            name,
            args,
            fin,
        )
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        arg: &'s Arg,
        args: Option<&'s [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        let Arg::Variable { idents, .. } = arg else {
            return Ok(Value::Nil);
        };
        self.at(At::Arg(arg));
        let Some(v) = self
            .vars
            .iter()
            .rev()
            .find(|(n, _)| *n == idents[0])
            .map(|(_, v)| v.clone())
        else {
            return self.errorf(format!("undefined variable: {}", idents[0]));
        };
        if idents.len() == 1 {
            if let Some(a) = args {
                self.not_a_function(a, &fin)?;
            } else if fin.is_some() {
                return self.errorf(format!("can't give argument to non-function {arg}"));
            }
            return Ok(v);
        }
        self.eval_field_chain(dot, v, At::Arg(arg), &idents[1..], args, fin)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        arg: &'s Arg,
        args: Option<&'s [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        let Arg::Chain { node, fields, .. } = arg else {
            return Ok(Value::Nil);
        };
        self.at(At::Arg(arg));
        if let Arg::Nil(_) = node.as_ref() {
            return self.errorf(format!("indirection through explicit nil in {arg}"));
        }
        let recv = self.eval_arg(dot, Ty::Any, node)?;
        self.eval_field_chain(dot, recv, At::Arg(arg), fields, args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        recv: Value,
        node: At<'s>,
        idents: &'s [String],
        args: Option<&'s [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        let mut recv = recv;
        for id in &idents[..n - 1] {
            recv = self.eval_field(dot, id, node, None, None, recv)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: At<'s>,
        args: Option<&'s [Arg]>,
        fin: Option<Value>,
        recv: Value,
    ) -> R<Value> {
        if let Value::Nil = recv {
            if self.t.missing_key == MissingKey::Error {
                return self.errorf(format!(
                    "nil data; no entry for key {}",
                    goconv::quote(name)
                ));
            }
            return Ok(Value::Nil);
        }
        if let Some(m) = gotime::method(&recv, name) {
            let call_args = args.map(|a| &a[1..]).unwrap_or(&[]);
            return self.eval_call(
                dot,
                m.params,
                None,
                Invoke::Method(m.call, recv),
                node,
                name,
                call_args,
                fin,
            );
        }
        if let Some(f) = self
            .t
            .methods
            .get(&recv.type_name())
            .and_then(|m| m.get(name))
        {
            let call_args = args.map(|a| &a[1..]).unwrap_or(&[]);
            let invoke = Invoke::Bound(&f.f, recv);
            return self.eval_call(
                dot, &f.params, f.variadic, invoke, node, name, call_args, fin,
            );
        }
        let has_args = args.is_some_and(|a| a.len() > 1) || fin.is_some();
        match &recv {
            Value::Record(r) => {
                if let Some((_, v)) = r.fields.iter().find(|(k, _)| k == name) {
                    if has_args {
                        return self.errorf(format!(
                            "{name} has arguments but cannot be invoked as function"
                        ));
                    }
                    return Ok(v.clone());
                }
            }
            Value::Map(m) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                return match m.entries.get(name) {
                    Some(v) => Ok(v.clone()),
                    None => match (self.t.missing_key, m.kind) {
                        (MissingKey::Error, _) => {
                            self.errorf(format!("map has no entry for key {}", goconv::quote(name)))
                        }
                        (_, MapKind::Strings) => Ok(Value::str("")),
                        (_, MapKind::Any) => Ok(Value::Nil),
                    },
                };
            }
            _ => {}
        }
        self.errorf(format!(
            "can't evaluate field {name} in type {}",
            recv.type_name()
        ))
    }
}
