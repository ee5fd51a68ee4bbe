//! Error types of the crate. Validation messages keep Alertmanager's wording
//! so users can search for them and tooling written for Alertmanager still
//! recognises them.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DurationError {
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    #[error("duration out of range")]
    OutOfRange,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MatcherError {
    #[error("bad matcher format: {0}")]
    BadFormat(String),
    #[error("matcher value contains unescaped double quote: {0}")]
    UnescapedQuote(String),
    #[error("error parsing regexp: {reason}")]
    Regex { pattern: String, reason: String },
}

/// A single problem found while validating an alertmanager.yml.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    #[error("no route provided in config")]
    NoRouteInConfig,
    #[error("no routes provided")]
    NoRoutes,
    #[error("root route must specify a default receiver")]
    RootWithoutReceiver,
    #[error("root route must not have any matchers")]
    RootWithMatchers,
    #[error("root route must not have any mute time intervals")]
    RootWithMuteTimes,
    #[error("root route must not have any active time intervals")]
    RootWithActiveTimes,
    #[error("cannot have continue in root route")]
    RootContinue,
    #[error("undefined receiver {0:?} used in route")]
    UndefinedReceiver(String),
    #[error("undefined time interval {0:?} used in route")]
    UndefinedTimeInterval(String),
    #[error("notification config name {0:?} is not unique")]
    DuplicateReceiver(String),
    #[error("missing name in receiver")]
    ReceiverWithoutName,
    #[error("receiver label \"name\" must match receiver name {name:?}, got {got:?}")]
    ReceiverNameLabel { name: String, got: String },
    #[error("mute time interval {0:?} is not unique")]
    DuplicateMuteTimeInterval(String),
    #[error("time interval {0:?} is not unique")]
    DuplicateTimeInterval(String),
    #[error("missing name in mute time interval")]
    MuteTimeIntervalWithoutName,
    #[error("missing name in time interval")]
    TimeIntervalWithoutName,
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    #[error("invalid label name {0:?} in group_by list")]
    InvalidGroupByLabel(String),
    #[error("invalid label name {0:?} in route labels")]
    InvalidRouteLabel(String),
    #[error("invalid label name {0:?} in equal list")]
    InvalidEqualLabel(String),
    /// A matcher or legacy regex that does not parse; the text is the
    /// parser's.
    #[error("{0}")]
    BadMatcher(String),
    #[error("invalid regexp value for {0:?}")]
    NullRegexp(String),
    #[error("duplicated label {0:?} in group_by")]
    DuplicateGroupBy(String),
    #[error("cannot have wildcard group_by (`...`) and other labels at the same time")]
    WildcardGroupByWithOthers,
    #[error("group_interval cannot be zero")]
    ZeroGroupInterval,
    #[error("repeat_interval cannot be zero")]
    ZeroRepeatInterval,
    /// `a` and `b` are alternative ways to give one setting (a value and a
    /// file holding it); Alertmanager allows only one.
    #[error("at most one of {a} & {b} must be configured")]
    AtMostOne { a: &'static str, b: &'static str },
    /// `{0}_configs` entry left empty (`- ` with nothing after it).
    #[error("missing {0} config")]
    EmptyIntegration(&'static str),
    /// A receiver integration Pharos does not implement.
    #[error("receiver {receiver:?}: {kind} are not supported by Pharos (supported: webhook_configs, slack_configs, pagerduty_configs, opsgenie_configs, email_configs)")]
    UnsupportedIntegration { receiver: String, kind: String },
    /// A top-level section Pharos does not implement.
    #[error("{0} is not supported by Pharos")]
    UnsupportedSection(String),
    /// A setting that must be present somewhere (locally or in `global`).
    #[error("{0}")]
    Required(&'static str),
    /// A combination of settings Alertmanager refuses; the text is its own.
    #[error("{0}")]
    Conflict(&'static str),
    #[error("duplicate header {0:?} in email config")]
    DuplicateEmailHeader(String),
    #[error("opsGenieConfig responder {responder} has to have at least one of id, username or name specified")]
    OpsGenieResponderEmpty { responder: String },
    #[error("opsGenieConfig responder {responder} type does not match valid options ^(team|teams|user|escalation|schedule)$")]
    OpsGenieResponderType { responder: String },
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("invalid template syntax: {0}")]
    TemplateSyntax(String),
    #[error("address {0:?}: port cannot be empty")]
    EmptyPort(String),
    #[error("address {address}: {reason}")]
    BadAddress { address: String, reason: String },
    #[error("unknown TLS version: {0}")]
    TlsVersion(String),
    #[error("invalid template glob {pattern:?}: {reason}")]
    TemplateGlob { pattern: String, reason: String },
}

/// Failure to load an alertmanager.yml.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The YAML did not fit the schema (syntax, unknown field, bad value).
    /// `line`/`column` are 1-based when known.
    #[error("{message}")]
    Yaml {
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// The file parsed but broke one or more rules; all are listed, the first
    /// being the one Alertmanager would report.
    #[error("{}", join(.0))]
    Invalid(Vec<ValidationError>),
}

fn join(errs: &[ValidationError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// The first error, worded as Alertmanager words it.
    pub fn first_message(&self) -> String {
        match self {
            ConfigError::Invalid(v) if !v.is_empty() => v[0].to_string(),
            other => other.to_string(),
        }
    }
}

/// Failure to evaluate or parse a time interval.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TimeIntervalError {
    #[error("time interval {0} doesn't exist in config")]
    Unknown(String),
}
