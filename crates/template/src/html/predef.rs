//! Go's predefined escapers (`html`, `urlquery`) in HTML mode: `html/template`
//! (`ensurePipelineContains`) merges a pipeline's predefined escaper with the
//! contextual escapers it would add, instead of escaping the escaper's output again.

use super::{
    html_escape, nospace_escape, stringify, strip_tags, url_filter, url_process, AttrKind, HtmlCtx,
    Raw, St,
};
use crate::value::Value;

/// Go's predefined escaper functions that `html/template` merges with its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Predef {
    Html,
    UrlQuery,
}

impl Predef {
    pub(crate) fn from_name(name: &str) -> Option<Predef> {
        match name {
            "html" => Some(Predef::Html),
            "urlquery" => Some(Predef::UrlQuery),
            _ => None,
        }
    }
}

/// One escaper of a planned pipeline (Go's `_html_template_*` functions and the
/// predefined ones moved into their place).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Esc {
    HtmlText,
    RcData,
    Attr,
    NoSpace,
    UrlFilter,
    UrlNorm,
    UrlQueryEscape,
    Builtin(Predef),
}

impl Esc {
    /// Go's `equivEscapers`.
    fn equiv(self) -> Option<Predef> {
        match self {
            Esc::HtmlText | Esc::RcData | Esc::Attr | Esc::Builtin(Predef::Html) => {
                Some(Predef::Html)
            }
            Esc::UrlNorm | Esc::UrlQueryEscape | Esc::Builtin(Predef::UrlQuery) => {
                Some(Predef::UrlQuery)
            }
            Esc::NoSpace | Esc::UrlFilter => None,
        }
    }
}

/// The escapers a pipeline's output goes through, and whether the pipeline's last
/// command (a predefined escaper) was moved among them.
#[derive(Debug)]
pub(crate) struct EscPlan {
    steps: Vec<Esc>,
    pub(crate) moved: bool,
}

impl HtmlCtx {
    /// The contextual escapers Go's `html/template` would append to a pipeline in the
    /// current context, for the contexts where one of them is equivalent to a predefined
    /// escaper (`html` or `urlquery`); `None` elsewhere, where [`Self::escape`] applies.
    fn go_escapers(&self) -> Option<Vec<Esc>> {
        let quoted_or_nospace = if self.quote.is_some() {
            Esc::Attr
        } else {
            Esc::NoSpace
        };
        match self.st {
            St::Text => Some(vec![Esc::HtmlText]),
            St::RawText if self.raw == Raw::RcData => Some(vec![Esc::RcData]),
            St::BeforeValue | St::Attr => match self.attr {
                AttrKind::Normal => Some(vec![quoted_or_nospace]),
                AttrKind::Url if !self.attr_has_text => {
                    Some(vec![Esc::UrlFilter, Esc::UrlNorm, quoted_or_nospace])
                }
                AttrKind::Url if self.url_in_query => {
                    Some(vec![Esc::UrlQueryEscape, quoted_or_nospace])
                }
                AttrKind::Url => Some(vec![Esc::UrlNorm, quoted_or_nospace]),
                AttrKind::Js | AttrKind::Css => None,
            },
            _ => None,
        }
    }

    /// Plans the escaping of a pipeline that uses Go's predefined escapers, as
    /// `html/template`'s `ensurePipelineContains` rewrites it: when the pipeline ends in
    /// `last` and a contextual escaper is equivalent to it, the predefined escaper moves
    /// to that escaper's place (so `urlquery` output in a URL query is not escaped twice);
    /// contextual escapers equivalent to a predefined escaper already in the pipeline
    /// (`present`) are left out. `None` means the ordinary [`Self::escape`] applies.
    pub(crate) fn plan(&self, last: Option<Predef>, present: &[Predef]) -> Option<EscPlan> {
        let mut steps = self.go_escapers()?;
        let mut moved = false;
        if let Some(esc) = last {
            for s in steps.iter_mut() {
                if s.equiv() == Some(esc) {
                    *s = Esc::Builtin(esc);
                    moved = true;
                }
            }
        }
        // When the last escaper moved, it no longer counts as already in the pipeline.
        let present: Vec<Predef> = match (moved, last) {
            (true, Some(esc)) => {
                let mut p = present.to_vec();
                if let Some(i) = p.iter().rposition(|e| *e == esc) {
                    p.remove(i);
                }
                p
            }
            _ => present.to_vec(),
        };
        steps.retain(|s| s.equiv().is_none_or(|e| !present.contains(&e)));
        Some(EscPlan { steps, moved })
    }

    /// Applies a plan to `v`: the pipeline's value, or the value before its last command
    /// when the plan moved that command.
    pub(crate) fn escape_planned(&mut self, v: &Value, plan: &EscPlan) -> String {
        let mut trusted = matches!(v, Value::Html(_));
        let mut s = stringify(v);
        for step in &plan.steps {
            s = match step {
                Esc::HtmlText if trusted => s,
                Esc::HtmlText | Esc::RcData => html_escape(&s, false),
                Esc::Attr if trusted => html_escape(&strip_tags(&s), true),
                Esc::Attr => html_escape(&s, false),
                Esc::NoSpace if trusted => nospace_escape(&strip_tags(&s)),
                Esc::NoSpace => nospace_escape(&s),
                Esc::UrlFilter => url_filter(&s).map_or_else(|| "#ZgotmplZ".into(), str::to_string),
                Esc::UrlNorm => url_process(&s, true),
                Esc::UrlQueryEscape => url_process(&s, false),
                Esc::Builtin(Predef::Html) => crate::func::html_escape(&s),
                Esc::Builtin(Predef::UrlQuery) => crate::func::query_escape(&s),
            };
            // Every escaper returns a plain string.
            trusted = false;
        }
        if self.st == St::BeforeValue {
            self.st = St::Attr;
            self.quote = None;
        }
        if self.st == St::Attr {
            self.attr_has_text = true;
        }
        s
    }
}
