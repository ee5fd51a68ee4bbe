//! Go `text/template` language for rule annotations and notification templates. This
//! crate owns the template language as Prometheus and Alertmanager users write it:
//! lexing, parsing and executing Go `text/template` syntax over dynamic values, Go's `fmt`
//! printing rules, an `html/template`-style escaping mode, and the function sets Prometheus
//! (alert labels/annotations, consoles) and Alertmanager (notifications) put on top. It
//! knows nothing about storage, PromQL or alert state: queries reach it only through a
//! caller-supplied function, and time only through an explicit timestamp, so it must not
//! read clocks, touch the network or depend on other Pharos crates.
//!
//! | module | role |
//! |---|---|
//! | `lex` | template text to items (delimiters, trim markers, comments, literals) |
//! | `parse` | items to trees with Go's parse-time checks and error wording |
//! | `ast` | the syntax tree and its Go-style rendering for error contexts |
//! | `exec` | tree walking, pipelines, variables, field/method access, error locations; `exec::call` does calls |
//! | [`func`] | parameter typing and the builtins (`and`, `index`, `eq`, `printf`, …) |
//! | `gofmt` | Go `fmt` (`Sprint`, `Sprintf` verbs and flags) |
//! | `gofloat` | Go `strconv.FormatFloat` |
//! | `goconv` | Go `strconv` quoting and number parsing |
//! | `gotime` | `time.Time` / `time.Duration` formatting and methods |
//! | `html` | contextual escaping for HTML mode |
//! | [`template`] | [`Template`]: a namespace of parsed templates with options |
//! | [`value`] | [`Value`]: the dynamic data model |
//! | [`prometheus`] | Prometheus's function set, [`prometheus::Expander`], alert field expansion |
//! | [`alertmanager`] | Alertmanager's notification function set |
//!
//! Read path: `Template::parse` (lex → parse) stores trees; `Template::execute` walks them
//! against a [`Value`], calling functions from the [`FuncMap`] and escaping per [`Mode`].

pub mod alertmanager;
mod ast;
mod exec;
pub mod func;
mod goconv;
mod gofloat;
mod gofmt;
mod gotime;
mod html;
mod lex;
mod parse;
pub mod prometheus;
pub mod template;
pub mod value;

pub use exec::CallCtx;
pub use func::{FuncMap, Function, Ty};
pub use template::{Limits, MissingKey, Mode, Template};
pub use value::{GoTime, Histogram, Value};

/// Go's `fmt.Sprint` over template values.
pub fn sprint(args: &[Value]) -> String {
    gofmt::sprint(args)
}

/// Go's `fmt.Sprintf` over template values.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    gofmt::sprintf(format, args)
}

/// Failures while parsing or executing a template; the `Display` text matches Go's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// Syntax error: `template: NAME:LINE: MESSAGE`.
    #[error("template: {name}:{line}: {msg}")]
    Parse {
        name: String,
        line: usize,
        msg: String,
    },
    /// Execution error, located at the node being evaluated when it happened.
    #[error("{}", exec_text(.location, .name, .context, .msg))]
    Exec {
        location: Option<String>,
        name: String,
        context: String,
        msg: String,
    },
    /// `ExecuteTemplate` asked for a name that was never defined.
    #[error("template: no template {} associated with template {}", quoted(.name), quoted(.set))]
    NoTemplate { name: String, set: String },
    /// An unknown `Option` string.
    #[error("template: {0}")]
    Option(String),
    /// Prometheus's wrapping of parse failures during expansion.
    #[error("error parsing template {name}: {source}")]
    ExpandParse {
        name: String,
        source: Box<TemplateError>,
    },
    /// Prometheus's wrapping of execution failures during expansion.
    #[error("error executing template {name}: {source}")]
    ExpandExec {
        name: String,
        source: Box<TemplateError>,
    },
}

fn quoted(s: &str) -> String {
    goconv::quote(s)
}

fn exec_text(location: &Option<String>, name: &str, context: &str, msg: &str) -> String {
    match location {
        Some(loc) => format!(
            "template: {loc}: executing {} at <{context}>: {msg}",
            goconv::quote(name)
        ),
        None => format!("template: {name}: {msg}"),
    }
}

#[cfg(test)]
mod tests;
