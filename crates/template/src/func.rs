//! Function tables: parameter typing (standing in for Go's reflected signatures) and the
//! builtins every template has (`len`, `index`, `eq`, `printf`, …).

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::exec::CallCtx;
use crate::gofmt;
use crate::value::{MapKind, NativeFn, Value};

/// The Go parameter type a function declares; decides how literals convert and which
/// values are accepted, with Go's error wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `interface{}` / `reflect.Value`: anything.
    Any,
    Str,
    Float,
    Int,
    Bool,
    Duration,
    Time,
    /// A named slice or struct-pointer type such as `template.queryResult`.
    Named(&'static str),
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Any => "interface {}",
            Ty::Str => "string",
            Ty::Float => "float64",
            Ty::Int => "int",
            Ty::Bool => "bool",
            Ty::Duration => "time.Duration",
            Ty::Time => "time.Time",
            Ty::Named(n) => n,
        })
    }
}

impl Ty {
    /// Go's `validateType`: whether `v` may be passed where this type is declared.
    pub(crate) fn check(&self, v: Value) -> Result<Value, String> {
        let ok = match (self, &v) {
            (Ty::Any, _) => true,
            (Ty::Named(_), Value::Nil) => true,
            (_, Value::Nil) => return Err(format!("invalid value; expected {self}")),
            (Ty::Str, Value::Str(_))
            | (Ty::Float, Value::Float(_))
            | (Ty::Int, Value::Int(_))
            | (Ty::Bool, Value::Bool(_))
            | (Ty::Duration, Value::Duration(_))
            | (Ty::Time, Value::Time(_)) => true,
            (Ty::Named(n), Value::List(l)) => {
                l.type_name.trim_start_matches('*') == n.trim_start_matches('*')
            }
            (Ty::Named(n), Value::Record(r)) => {
                r.type_name.trim_start_matches('*') == n.trim_start_matches('*')
            }
            _ => false,
        };
        if ok {
            Ok(v)
        } else {
            Err(format!(
                "wrong type for value; expected {self}; got {}",
                v.type_name()
            ))
        }
    }
}

/// A function callable from templates.
#[derive(Clone)]
pub struct Function<'a> {
    pub params: Vec<Ty>,
    pub variadic: Option<Ty>,
    pub f: Rc<NativeFn<'a>>,
}

impl<'a> Function<'a> {
    pub fn new(
        params: &[Ty],
        variadic: Option<Ty>,
        f: impl Fn(&mut CallCtx<'_, '_>, &[Value]) -> Result<Value, String> + 'a,
    ) -> Self {
        Function {
            params: params.to_vec(),
            variadic,
            f: Rc::new(f),
        }
    }
}

/// Named functions available to a template, on top of the builtins.
#[derive(Clone, Default)]
pub struct FuncMap<'a> {
    pub(crate) map: HashMap<String, Function<'a>>,
}

impl<'a> FuncMap<'a> {
    pub fn new() -> Self {
        FuncMap {
            map: HashMap::new(),
        }
    }

    pub fn insert(&mut self, name: &str, f: Function<'a>) {
        self.map.insert(name.to_string(), f);
    }

    pub fn get(&self, name: &str) -> Option<&Function<'a>> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn extend(&mut self, other: FuncMap<'a>) {
        self.map.extend(other.map);
    }
}

/// Names the evaluator treats specially (short-circuit, callee insertion).
pub(crate) const SPECIAL: &[&str] = &["and", "or", "call"];

pub(crate) fn builtins() -> FuncMap<'static> {
    let mut m = FuncMap::new();
    let any = Some(Ty::Any);
    m.insert(
        "not",
        Function::new(&[Ty::Any], None, |_, a| Ok(Value::Bool(!a[0].is_true()))),
    );
    m.insert("len", Function::new(&[Ty::Any], None, |_, a| len(&a[0])));
    m.insert(
        "index",
        Function::new(&[Ty::Any], any, |_, a| index(&a[0], &a[1..])),
    );
    m.insert(
        "slice",
        Function::new(&[Ty::Any], any, |_, a| slice(&a[0], &a[1..])),
    );
    m.insert(
        "print",
        Function::new(&[], any, |_, a| Ok(Value::str(gofmt::sprint(a)))),
    );
    m.insert(
        "println",
        Function::new(&[], any, |_, a| Ok(Value::str(gofmt::sprintln(a)))),
    );
    m.insert(
        "printf",
        Function::new(&[Ty::Str], any, |_, a| {
            Ok(Value::str(gofmt::sprintf(
                a[0].as_str().unwrap_or(""),
                &a[1..],
            )))
        }),
    );
    m.insert(
        "html",
        Function::new(&[], any, |_, a| Ok(Value::str(html_escape(&eval_args(a))))),
    );
    m.insert(
        "js",
        Function::new(&[], any, |_, a| Ok(Value::str(js_escape(&eval_args(a))))),
    );
    m.insert(
        "urlquery",
        Function::new(&[], any, |_, a| Ok(Value::str(query_escape(&eval_args(a))))),
    );
    m.insert(
        "eq",
        Function::new(&[Ty::Any], any, |_, a| eq(&a[0], &a[1..]).map(Value::Bool)),
    );
    m.insert(
        "ne",
        Function::new(&[Ty::Any, Ty::Any], None, |_, a| {
            eq(&a[0], &a[1..2]).map(|b| Value::Bool(!b))
        }),
    );
    m.insert(
        "lt",
        Function::new(&[Ty::Any, Ty::Any], None, |_, a| {
            lt(&a[0], &a[1]).map(Value::Bool)
        }),
    );
    m.insert(
        "le",
        Function::new(&[Ty::Any, Ty::Any], None, |_, a| {
            Ok(Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..2])?))
        }),
    );
    m.insert(
        "gt",
        Function::new(&[Ty::Any, Ty::Any], None, |_, a| {
            Ok(Value::Bool(!lt(&a[0], &a[1])? && !eq(&a[0], &a[1..2])?))
        }),
    );
    m.insert(
        "ge",
        Function::new(&[Ty::Any, Ty::Any], None, |_, a| {
            Ok(Value::Bool(!lt(&a[0], &a[1])?))
        }),
    );
    // The evaluator implements these three itself; the entries give their arity.
    m.insert(
        "and",
        Function::new(&[Ty::Any], any, |_, a| Ok(a[0].clone())),
    );
    m.insert(
        "or",
        Function::new(&[Ty::Any], any, |_, a| Ok(a[0].clone())),
    );
    m.insert(
        "call",
        Function::new(&[Ty::Any], any, |_, a| Ok(a[0].clone())),
    );
    m
}

/// Go's `evalArgs`: a lone string is used as is, anything else goes through `fmt.Sprint`.
pub(crate) fn eval_args(a: &[Value]) -> String {
    if let [Value::Str(s)] = a {
        return s.to_string();
    }
    gofmt::sprint(a)
}

fn len(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::Str(s) | Value::Html(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.entries.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn index_of(v: &Value, len: usize) -> Result<usize, String> {
    let i = match v {
        Value::Int(i) => *i as i128,
        Value::Uint(u) => *u as i128,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if i < 0 || i >= len as i128 {
        return Err(format!("index out of range: {i}"));
    }
    Ok(i as usize)
}

fn index(item: &Value, idx: &[Value]) -> Result<Value, String> {
    let mut cur = item.clone();
    if let Value::Nil = cur {
        return Err("index of untyped nil".into());
    }
    for i in idx {
        cur = match &cur {
            Value::List(l) => l.items[index_of(i, l.items.len())?].clone(),
            Value::Str(s) => Value::Uint(s.as_bytes()[index_of(i, s.len())?] as u64),
            Value::Map(m) => match i {
                Value::Str(k) => match m.entries.get(k.as_ref()) {
                    Some(v) => v.clone(),
                    None if m.kind == MapKind::Strings => Value::str(""),
                    None => Value::Nil,
                },
                Value::Nil => return Err("value is nil; should be of type string".into()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::Nil => return Err("index of untyped nil".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(cur)
}

fn slice(item: &Value, idx: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("slice of untyped nil".into());
    }
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let cap = match item {
        Value::Str(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.items.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut bounds = [0usize, cap, cap];
    for (k, v) in idx.iter().enumerate() {
        let i = match v {
            Value::Int(i) => *i as i128,
            Value::Uint(u) => *u as i128,
            Value::Nil => return Err("cannot index slice/array with nil".into()),
            other => {
                return Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ))
            }
        };
        if i < 0 || i > cap as i128 {
            return Err(format!("index out of range: {i}"));
        }
        bounds[k] = i as usize;
    }
    if bounds[0] > bounds[1] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[0], bounds[1]
        ));
    }
    if idx.len() == 3 && bounds[1] > bounds[2] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[1], bounds[2]
        ));
    }
    Ok(match item {
        Value::Str(s) => match s.get(bounds[0]..bounds[1]) {
            Some(sub) => Value::str(sub),
            None => Value::str(String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]])),
        },
        Value::List(l) => Value::List(Rc::new(crate::value::List {
            type_name: l.type_name.clone(),
            items: l.items[bounds[0]..bounds[1]].to_vec(),
        })),
        _ => Value::Nil,
    })
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn int_of(v: &Value) -> i128 {
    match v {
        Value::Int(i) | Value::Duration(i) => *i as i128,
        Value::Uint(u) => *u as i128,
        _ => 0,
    }
}

fn str_of(v: &Value) -> &str {
    match v {
        Value::Str(s) | Value::Html(s) => s,
        _ => "",
    }
}

fn eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => int_of(a) == int_of(b),
                _ => {
                    if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                        return Err("incompatible types for comparison".into());
                    }
                    false
                }
            }
        } else {
            match k1 {
                Kind::Bool => a.is_true() == b.is_true(),
                Kind::Int | Kind::Uint => int_of(a) == int_of(b),
                Kind::Float => matches!((a, b), (Value::Float(x), Value::Float(y)) if x == y),
                Kind::Str => str_of(a) == str_of(b),
                Kind::Other => match (a, b) {
                    (Value::Nil, Value::Nil) => true,
                    (Value::Time(x), Value::Time(y)) => x == y,
                    (Value::Nil, _) | (_, Value::Nil) => false,
                    _ => {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            gofmt::sprint(std::slice::from_ref(b)),
                            b.type_name()
                        ))
                    }
                },
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if matches!(k1, Kind::Other | Kind::Bool) || matches!(k2, Kind::Other | Kind::Bool) {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(int_of(a) < int_of(b)),
            _ => Err("incompatible types for comparison".into()),
        };
    }
    Ok(match k1 {
        Kind::Float => matches!((a, b), (Value::Float(x), Value::Float(y)) if x < y),
        Kind::Str => str_of(a) < str_of(b),
        _ => int_of(a) < int_of(b),
    })
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || crate::goconv::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
