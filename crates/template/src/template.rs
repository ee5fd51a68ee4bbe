//! A named set of parsed templates with its functions and options, the counterpart of Go's
//! `*template.Template`.

use std::collections::HashMap;
use std::rc::Rc;

use crate::exec;
use crate::func::{builtins, FuncMap, Function};
use crate::parse::{self, Tree};
use crate::value::Value;
use crate::TemplateError;

/// Go's `missingkey` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default` / `invalid`: a missing key yields no value.
    #[default]
    Default,
    /// `missingkey=zero`: the element type's zero value.
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

/// Output escaping: plain text (`text/template`) or contextual HTML (`html/template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Text,
    Html,
}

/// Bounds that keep untrusted templates from exhausting memory or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest output (and largest string any function may return), in bytes.
    pub max_output: usize,
    /// Deepest nesting of control structures plus template calls during execution.
    pub max_depth: usize,
    /// Most nodes one execution may evaluate (nested ranges can multiply work).
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: 4 << 20,
            max_depth: 100,
            max_steps: 10_000_000,
        }
    }
}

/// Parsed templates sharing one namespace, function map and option set.
pub struct Template<'f> {
    pub(crate) name: String,
    pub(crate) trees: HashMap<String, Rc<Tree>>,
    pub(crate) funcs: FuncMap<'f>,
    /// Methods by receiver type name, then method name.
    pub(crate) methods: HashMap<String, HashMap<String, Function<'f>>>,
    pub(crate) builtins: FuncMap<'static>,
    pub(crate) missing_key: MissingKey,
    pub(crate) mode: Mode,
    pub(crate) limits: Limits,
    /// Nodes evaluated by the execution in progress, shared with nested `tmpl` runs.
    pub(crate) steps: std::cell::Cell<u64>,
}

impl<'f> Template<'f> {
    pub fn new(name: &str) -> Self {
        Template {
            name: name.to_string(),
            trees: HashMap::new(),
            funcs: FuncMap::new(),
            methods: HashMap::new(),
            builtins: builtins(),
            missing_key: MissingKey::Default,
            mode: Mode::Text,
            limits: Limits::default(),
            steps: std::cell::Cell::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds functions; later calls override earlier names, as `Funcs` does.
    pub fn funcs(&mut self, funcs: FuncMap<'f>) -> &mut Self {
        self.funcs.extend(funcs);
        self
    }

    /// Registers a method on values whose Go type name is `type_name` (a named list, map
    /// or record), reachable as `.Name args…`. The function receives the receiver first;
    /// `f.params` describe only the arguments after it.
    pub fn method(&mut self, type_name: &str, name: &str, f: Function<'f>) -> &mut Self {
        self.methods
            .entry(type_name.to_string())
            .or_default()
            .insert(name.to_string(), f);
        self
    }

    pub fn mode(&mut self, mode: Mode) -> &mut Self {
        self.mode = mode;
        self
    }

    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    pub fn missing_key(&mut self, mk: MissingKey) -> &mut Self {
        self.missing_key = mk;
        self
    }

    /// Applies Go-style option strings such as `missingkey=error`.
    pub fn option(&mut self, opt: &str) -> Result<&mut Self, TemplateError> {
        if opt.is_empty() {
            return Ok(self);
        }
        let mk = match opt.split_once('=') {
            Some(("missingkey", "default" | "invalid")) => MissingKey::Default,
            Some(("missingkey", "zero")) => MissingKey::Zero,
            Some(("missingkey", "error")) => MissingKey::Error,
            Some(("missingkey", _)) => {
                return Err(TemplateError::Option(format!("unrecognized option: {opt}")));
            }
            _ => return Err(TemplateError::Option(format!("unrecognized option: {opt}"))),
        };
        self.missing_key = mk;
        Ok(self)
    }

    /// Parses `text` as the body of this template, adding any `define`/`block` templates.
    pub fn parse(&mut self, text: &str) -> Result<&mut Self, TemplateError> {
        let funcs = &self.funcs;
        let builtins = &self.builtins;
        let is_func = |n: &str| funcs.contains(n) || builtins.contains(n);
        let trees = parse::parse(&self.name, text, &is_func).map_err(|e| TemplateError::Parse {
            name: self.name.clone(),
            line: e.line,
            msg: e.msg,
        })?;
        for (name, tree) in trees {
            // A later empty body does not replace an existing definition.
            let keep_old =
                tree.is_empty() && self.trees.get(&name).is_some_and(|old| !old.is_empty());
            if !keep_old {
                self.trees.insert(name, tree);
            }
        }
        Ok(self)
    }

    /// Whether a template with this name has been defined.
    pub fn lookup(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Names of all defined templates, sorted.
    pub fn defined_templates(&self) -> Vec<String> {
        let mut v: Vec<String> = self.trees.keys().cloned().collect();
        v.sort();
        v
    }

    /// Executes this template with `data` as `.`.
    pub fn execute(&self, data: Value) -> Result<String, TemplateError> {
        if !self.trees.contains_key(&self.name) {
            return Err(TemplateError::Exec {
                location: None,
                name: self.name.clone(),
                context: String::new(),
                msg: format!(
                    "{} is an incomplete or empty template",
                    crate::goconv::quote(&self.name)
                ),
            });
        }
        self.steps.set(0);
        exec::run(self, &self.name, data, 0, self.mode == Mode::Html)
    }

    /// Executes the named template with `data` as `.`.
    pub fn execute_template(&self, name: &str, data: Value) -> Result<String, TemplateError> {
        self.steps.set(0);
        exec::run(self, name, data, 0, self.mode == Mode::Html)
    }
}
