//! Function and method calls: arity, Go's argument conversion rules (`evalArg`,
//! `validateType`), `and`/`or` short-circuiting and `call`.

use super::{At, CallCtx, Invoke, State, R};
use crate::func::Ty;
use crate::gofmt;
use crate::parse::Arg;
use crate::value::Value;

impl<'s, 't> State<'s, 't> {
    pub(super) fn check_arity(
        &self,
        name: &str,
        params: &[Ty],
        variadic: bool,
        nargs: usize,
        num_in: usize,
    ) -> R<()> {
        if variadic {
            if num_in < params.len() {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {nargs}",
                    params.len()
                ));
            }
        } else if num_in != params.len() {
            return self.errorf(format!(
                "wrong number of args for {name}: want {} got {num_in}",
                params.len()
            ));
        }
        Ok(())
    }

    pub(super) fn eval_and_or(
        &mut self,
        dot: &Value,
        name: &str,
        args: &'s [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let num_in = args.len() + usize::from(fin.is_some());
        self.check_arity(name, &[Ty::Any], true, args.len(), num_in)?;
        let mut v = Value::Nil;
        for a in args {
            v = self.eval_arg(dot, Ty::Any, a)?;
            if v.is_true() == (name == "or") {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = f;
        }
        Ok(v)
    }

    pub(super) fn eval_builtin_call(
        &mut self,
        dot: &Value,
        node: At<'s>,
        args: &'s [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let num_in = args.len() + usize::from(fin.is_some());
        self.check_arity("call", &[Ty::Any], true, args.len(), num_in)?;
        let callee_name = match args.first() {
            Some(a) => a.to_string(),
            None => fin
                .as_ref()
                .map(|v| gofmt::sprint(std::slice::from_ref(v)))
                .unwrap_or_default(),
        };
        let mut argv = Vec::with_capacity(num_in);
        for a in args {
            argv.push(self.eval_arg(dot, Ty::Any, a)?);
        }
        if let Some(f) = fin {
            argv.push(f);
        }
        let callee = argv.remove(0);
        let r = match &callee {
            Value::Nil => Err("call of nil".to_string()),
            Value::Func(fv) => {
                let mut ctx = CallCtx {
                    tmpl: self.t,
                    depth: self.depth,
                    html: self.html.is_some(),
                };
                (fv.f)(&mut ctx, &argv)
            }
            other => Err(format!(
                "non-function {callee_name} of type {}",
                other.type_name()
            )),
        };
        self.finish_call(node, "call", r)
    }

    pub(super) fn finish_call(
        &mut self,
        node: At<'s>,
        name: &str,
        r: Result<Value, String>,
    ) -> R<Value> {
        match r {
            Ok(v) => {
                if let Value::Str(s) | Value::Html(s) = &v {
                    if s.len() > self.t.limits.max_output {
                        self.at(node);
                        return self.errorf(format!(
                            "error calling {name}: result exceeds the limit of {} bytes",
                            self.t.limits.max_output
                        ));
                    }
                }
                Ok(v)
            }
            Err(e) => {
                self.at(node);
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn eval_call(
        &mut self,
        dot: &Value,
        params: &[Ty],
        variadic: Option<Ty>,
        invoke: Invoke<'s, 't>,
        node: At<'s>,
        name: &str,
        args: &'s [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let num_in = args.len() + usize::from(fin.is_some());
        self.check_arity(name, params, variadic.is_some(), args.len(), num_in)?;
        let num_fixed = if variadic.is_some() {
            params.len()
        } else {
            args.len()
        };
        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, params[i], &args[i])?);
            i += 1;
        }
        if let Some(vt) = variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, vt, &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = fin {
            let t = match variadic {
                Some(vt) if num_in > num_fixed => vt,
                Some(_) => params[num_in - 1],
                None => params[params.len() - 1],
            };
            match t.check(f) {
                Ok(v) => argv.push(v),
                Err(m) => return self.errorf(m),
            }
        }
        let r = match invoke {
            Invoke::Func(f) => {
                let mut ctx = CallCtx {
                    tmpl: self.t,
                    depth: self.depth,
                    html: self.html.is_some(),
                };
                f(&mut ctx, &argv)
            }
            Invoke::Method(m, recv) => m(&recv, &argv),
            Invoke::Bound(f, recv) => {
                argv.insert(0, recv);
                let mut ctx = CallCtx {
                    tmpl: self.t,
                    depth: self.depth,
                    html: self.html.is_some(),
                };
                f(&mut ctx, &argv)
            }
        };
        self.finish_call(node, name, r)
    }

    pub(super) fn eval_arg(&mut self, dot: &Value, ty: Ty, arg: &'s Arg) -> R<Value> {
        self.at(At::Arg(arg));
        let v = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                if matches!(ty, Ty::Any | Ty::Named(_)) {
                    return Ok(Value::Nil);
                }
                return self.errorf(format!("cannot assign nil to {ty}"));
            }
            Arg::Field { idents, .. } => {
                self.at(At::Arg(arg));
                self.eval_field_chain(dot, dot.clone(), At::Arg(arg), idents, None, None)?
            }
            Arg::Variable { .. } => self.eval_variable(dot, arg, None, None)?,
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Ident { name, .. } => {
                self.eval_function(dot, arg, name, At::Arg(arg), None, None)?
            }
            Arg::Chain { .. } => self.eval_chain(dot, arg, None, None)?,
            Arg::Bool(_, b) => {
                return match ty {
                    Ty::Bool | Ty::Any => Ok(Value::Bool(*b)),
                    _ => self.literal_mismatch(ty, arg),
                }
            }
            Arg::Number(_, n) => {
                return match ty {
                    Ty::Any => self.ideal_constant(n),
                    Ty::Float => match n.float {
                        Some(f) => Ok(Value::Float(f)),
                        None => self.errorf(format!("expected float64; found {arg}")),
                    },
                    Ty::Int | Ty::Duration => match n.int {
                        Some(i) if ty == Ty::Int => Ok(Value::Int(i)),
                        Some(i) => Ok(Value::Duration(i)),
                        None => self.errorf(format!("expected integer; found {arg}")),
                    },
                    _ => self.literal_mismatch(ty, arg),
                }
            }
            Arg::Str { text, .. } => {
                return match ty {
                    Ty::Str | Ty::Any => Ok(Value::str(text)),
                    _ => self.literal_mismatch(ty, arg),
                }
            }
        };
        match ty.check(v) {
            Ok(v) => Ok(v),
            Err(m) => self.errorf(m),
        }
    }

    pub(super) fn literal_mismatch<T>(&self, ty: Ty, arg: &Arg) -> R<T> {
        match ty {
            Ty::Bool => self.errorf(format!("expected bool; found {arg}")),
            Ty::Str => self.errorf(format!("expected string; found {arg}")),
            Ty::Float => self.errorf(format!("expected float64; found {arg}")),
            Ty::Int | Ty::Duration => self.errorf(format!("expected integer; found {arg}")),
            _ => self.errorf(format!("can't handle {arg} for arg of type {ty}")),
        }
    }
}
