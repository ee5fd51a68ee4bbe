//! Dynamic values standing in for the Go values a template sees through reflection.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A value bound to `.`, a variable, or produced by a function.
#[derive(Clone)]
pub enum Value {
    /// Go's untyped nil / an invalid `reflect.Value` (prints as `<no value>` in an action).
    Nil,
    Bool(bool),
    /// Go `int` (and other signed integers).
    Int(i64),
    /// Go `uint64` (and other unsigned integers).
    Uint(u64),
    Float(f64),
    Str(Rc<str>),
    /// `html/template.HTML`: markup trusted not to need escaping in HTML mode.
    Html(Rc<str>),
    List(Rc<List>),
    Map(Rc<Map>),
    Record(Rc<Record>),
    Time(GoTime),
    /// Go `time.Duration`, in nanoseconds.
    Duration(i64),
    Histogram(Rc<Histogram>),
    Func(Rc<FuncValue>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({})",
            self.type_name(),
            crate::gofmt::sprint(std::slice::from_ref(self))
        )
    }
}

/// A Go slice. `type_name` is what Go's `%T` would print (e.g. `[]interface {}`).
#[derive(Debug, Clone)]
pub struct List {
    pub type_name: String,
    pub items: Vec<Value>,
}

/// What Go type a string-keyed map stands for; decides how missing keys behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// `map[string]string`: a missing key reads as the zero value `""`.
    Strings,
    /// `map[string]interface{}`: a missing key reads as no value.
    Any,
}

#[derive(Debug, Clone)]
pub struct Map {
    pub kind: MapKind,
    pub entries: BTreeMap<String, Value>,
    /// A named map type (e.g. `template.KV`), which can carry methods.
    pub type_name: Option<String>,
}

/// A Go struct (or pointer to one) with exported, named fields.
#[derive(Debug, Clone)]
pub struct Record {
    pub type_name: String,
    pub fields: Vec<(String, Value)>,
}

/// A Go `time.Time`: an instant plus the zone it is shown in.
#[derive(Debug, Clone, PartialEq)]
pub struct GoTime {
    pub unix_nanos: i128,
    pub offset_secs: i32,
    pub zone: Rc<str>,
}

impl GoTime {
    pub fn utc(unix_nanos: i128) -> Self {
        GoTime {
            unix_nanos,
            offset_secs: 0,
            zone: Rc::from("UTC"),
        }
    }
}

/// A native-histogram sample value; only its summary form is rendered by templates.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub count: f64,
    pub sum: f64,
    /// Buckets as (lower, upper, lower_inclusive, upper_inclusive, count).
    pub buckets: Vec<(f64, f64, bool, bool, f64)>,
}

impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = |x: f64| crate::gofmt::format_float(x, 'g', None);
        write!(f, "{{count:{}, sum:{}", g(self.count), g(self.sum))?;
        for (lo, hi, lo_inc, hi_inc, c) in &self.buckets {
            let l = if *lo_inc { '[' } else { '(' };
            let r = if *hi_inc { ']' } else { ')' };
            write!(f, ", {l}{},{}{r}:{}", g(*lo), g(*hi), g(*c))?;
        }
        f.write_str("}")
    }
}

/// Signature of functions callable from templates and of `call`-able values.
pub type NativeFn<'a> =
    dyn Fn(&mut crate::exec::CallCtx<'_, '_>, &[Value]) -> Result<Value, String> + 'a;

/// A function value stored in data, invoked with the `call` builtin.
pub struct FuncValue {
    pub name: String,
    pub f: Box<NativeFn<'static>>,
}

impl Value {
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Rc::from(s.as_ref()))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(List {
            type_name: "[]interface {}".into(),
            items,
        }))
    }

    pub fn string_map(entries: BTreeMap<String, String>) -> Value {
        Value::Map(Rc::new(Map {
            kind: MapKind::Strings,
            entries: entries
                .into_iter()
                .map(|(k, v)| (k, Value::str(v)))
                .collect(),
            type_name: None,
        }))
    }

    pub fn any_map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(Map {
            kind: MapKind::Any,
            entries,
            type_name: None,
        }))
    }

    pub fn record(type_name: &str, fields: Vec<(&str, Value)>) -> Value {
        Value::Record(Rc::new(Record {
            type_name: type_name.to_string(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }))
    }

    /// The Go type name as `%T` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Uint(_) => "uint64".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::Html(_) => "template.HTML".into(),
            Value::List(l) => l.type_name.clone(),
            Value::Map(m) if m.type_name.is_some() => m.type_name.clone().unwrap_or_default(),
            Value::Map(m) => match m.kind {
                MapKind::Strings => "map[string]string".into(),
                MapKind::Any => "map[string]interface {}".into(),
            },
            Value::Record(r) => r.type_name.clone(),
            Value::Time(_) => "time.Time".into(),
            Value::Duration(_) => "time.Duration".into(),
            Value::Histogram(_) => "*histogram.FloatHistogram".into(),
            Value::Func(_) => "func(...interface {}) (interface {}, error)".into(),
        }
    }

    /// Go's template truth: zero values, empty collections and nil are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
            Value::Duration(d) => *d != 0,
            Value::Record(_) | Value::Time(_) | Value::Histogram(_) | Value::Func(_) => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::str(s)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
