//! `relabel_config`: the YAML form, Prometheus's defaults, and validation.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use pharos_model::labels::is_valid_label_name;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default `separator` between joined source label values.
pub const DEFAULT_SEPARATOR: &str = ";";
/// Default `regex`, before anchoring.
pub const DEFAULT_REGEX: &str = "(.*)";
/// Default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// What a relabel step does; YAML names are matched case-insensitively, as Prometheus
/// lowercases them before comparing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// Write the expanded `replacement` to the expanded `target_label` if `regex` matches.
    #[default]
    Replace,
    /// Drop the label set unless `regex` matches the joined source values.
    Keep,
    /// Drop the label set if `regex` matches the joined source values.
    Drop,
    /// Drop the label set unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drop the label set if the joined source values equal `target_label`'s value.
    DropEqual,
    /// Set `target_label` to MD5(joined source values) mod `modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the name `replacement` expands to.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the lowercased joined source values.
    Lowercase,
    /// Set `target_label` to the uppercased joined source values.
    Uppercase,
}

impl Action {
    /// Every action, in the order Prometheus documents them.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name as prometheus.yml spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Actions that write `target_label` with a value they compute.
    fn writes_target(self) -> bool {
        matches!(
            self,
            Action::Replace | Action::HashMod | Action::Lowercase | Action::Uppercase
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        // Prometheus lowercases with Unicode rules, so e.g. "KEEP" and "Keep" both work.
        let lower = s.to_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| ConfigError::UnknownAction(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(self.as_str())
    }
}

/// Why a relabel configuration was rejected. The texts are Prometheus's, so messages
/// users search for still lead somewhere.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `action: null` (an explicit null, not an absent key, which means `replace`).
    #[error("relabel action cannot be empty")]
    EmptyAction,
    #[error("unknown relabel action {}", go_quote(.0))]
    UnknownAction(String),
    #[error("{} is not a valid label name", go_quote(.0))]
    InvalidSourceLabel(String),
    /// `pattern` is the regex as written, `message` the compiler's explanation.
    #[error("error parsing regexp {}: {message}", go_quote(.pattern))]
    InvalidRegex { pattern: String, message: String },
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    #[error("{} is invalid 'target_label' for {action} action", go_quote(.target_label))]
    InvalidTargetLabel {
        target_label: String,
        action: Action,
    },
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{} is invalid 'replacement' for {action} action", go_quote(.replacement))]
    InvalidReplacement { replacement: String, action: Action },
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    EqualActionExtraFields(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    LabelDropKeepExtraFields(Action),
}

/// A relabel regex: the pattern as written plus its compiled, fully anchored form
/// `^(?s:PATTERN)$`.
///
/// The anchoring is textual, exactly as Prometheus builds it, so a pattern that closes
/// the wrapping group itself (`a)|(b`) behaves as it would there.
///
/// Syntax is the `regex` crate's, which follows RE2 like Go's `regexp`; the differences
/// a config can hit (checked against Go's `regexp`) are:
/// - same pattern, different meaning: `\d`, `\w`, `\s` and `\b` are Unicode-aware here
///   but ASCII-only in Go (they differ only on non-ASCII input: `\d` matches `٣` here);
///   `\<` and `\>` are word boundaries here but literal `<` and `>` in Go; `[a&&b]` and
///   `[a~~b]` are class set operations here but list literal characters in Go;
/// - accepted by Go, rejected here: `\Q…\E` quoting, a `{` that starts no valid
///   repetition (`a{,3}`, a literal in Go), group names starting with a digit;
/// - rejected by Go, accepted here: `(?x)`, `(?R)`, `x**`, counted repetitions above
///   1000 (`a{1001}`; here only the compiled size is limited), group names with
///   non-ASCII letters, `.`, `[` or `]`.
#[derive(Clone, Debug)]
pub struct RelabelRegex {
    pattern: String,
    regex: Regex,
    /// Prometheus tells "regex not set" from "set to the default text" by identity with
    /// its default value (keepequal/dropequal reject the latter); this flag is that
    /// identity.
    is_default: bool,
}

impl RelabelRegex {
    /// Compiles `pattern` anchored as `^(?s:pattern)$`.
    pub fn new(pattern: &str) -> Result<Self, ConfigError> {
        Ok(RelabelRegex {
            pattern: pattern.to_string(),
            regex: compile_anchored(pattern)?,
            is_default: false,
        })
    }

    /// The pattern as written in the config, without the anchoring.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The compiled, anchored regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Whether this is the default regex because none was configured (an explicit
    /// `regex: (.*)` is not).
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        static DEFAULT: OnceLock<Regex> = OnceLock::new();
        let regex = DEFAULT.get_or_init(|| {
            // A constant pattern: this cannot fail for any input or config.
            compile_anchored(DEFAULT_REGEX).expect("default relabel regex compiles")
        });
        RelabelRegex {
            pattern: DEFAULT_REGEX.to_string(),
            regex: regex.clone(),
            is_default: true,
        }
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.is_default == other.is_default
    }
}

impl Eq for RelabelRegex {}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&self.pattern)
    }
}

fn compile_anchored(pattern: &str) -> Result<Regex, ConfigError> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
        // Syntax errors render as several lines (pattern, caret, "error: …"); config
        // errors end up in single log lines, so keep just the explanation.
        let text = e.to_string();
        let message = text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .map_or_else(|| text.trim().to_string(), str::to_string);
        ConfigError::InvalidRegex {
            pattern: pattern.to_string(),
            message,
        }
    })
}

/// One entry of `relabel_configs` or `metric_relabel_configs`.
///
/// Deserializing (from YAML, with prometheus.yml's field names) applies Prometheus's
/// defaults and runs [`RelabelConfig::validate`], rejecting unknown fields. As in
/// Prometheus's YAML loader, a key given as an explicit `null` takes the type's zero
/// value rather than the default: `separator: ~` is `""`, `regex: ~` is the empty
/// pattern (matching only the empty string), `replacement: ~` is `""`, and
/// `action: ~` is an error.
///
/// Built in code (`RelabelConfig { .., ..Default::default() }`) a config is not
/// validated until [`validate`](RelabelConfig::validate) is called; [`process`]
/// nevertheless never panics on an invalid one (see there).
///
/// [`process`]: super::process
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRelabelConfig")]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator`; a missing label contributes "".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    pub separator: String,
    /// Omitted when serialized if it is the unset default, as Prometheus does.
    #[serde(skip_serializing_if = "RelabelRegex::is_default")]
    pub regex: RelabelRegex,
    #[serde(skip_serializing_if = "is_zero")]
    pub modulus: u64,
    /// May contain `$1`/`${name}` references for `replace`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for RelabelConfig {
    /// Prometheus's defaults: `replace`, separator `;`, regex `(.*)`, replacement `$1`.
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

impl RelabelConfig {
    /// Checks the rules Prometheus applies when loading a config, in its order, so the
    /// first problem reported is the one Prometheus would report.
    ///
    /// Label names are checked with the classic rule `[a-zA-Z_][a-zA-Z0-9_]*` (the
    /// model's), as Prometheus 2.x does and 3.x does under legacy name validation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Prometheus rejects these while parsing, before the checks below.
        if let Some(bad) = self.source_labels.iter().find(|n| !is_valid_label_name(n)) {
            return Err(ConfigError::InvalidSourceLabel(bad.clone()));
        }
        let action = self.action;
        if action == Action::HashMod && self.modulus == 0 {
            return Err(ConfigError::ZeroModulus);
        }
        let needs_target =
            action.writes_target() || matches!(action, Action::KeepEqual | Action::DropEqual);
        if needs_target && self.target_label.is_empty() {
            return Err(ConfigError::MissingTargetLabel(action));
        }
        let invalid_target = || ConfigError::InvalidTargetLabel {
            target_label: self.target_label.clone(),
            action,
        };
        if action == Action::Replace {
            let ok = if self.target_label.contains('$') {
                is_valid_templated_name(&self.target_label)
            } else {
                is_valid_label_name(&self.target_label)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        let fixed_target = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if fixed_target && !is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if fixed_target && self.replacement != DEFAULT_REPLACEMENT {
            return Err(ConfigError::ReplacementNotAllowed(action));
        }
        if action == Action::LabelMap && !is_valid_templated_name(&self.replacement) {
            return Err(ConfigError::InvalidReplacement {
                replacement: self.replacement.clone(),
                action,
            });
        }
        if action == Action::HashMod && !is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (!self.regex.is_default()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(ConfigError::EqualActionExtraFields(action));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(ConfigError::LabelDropKeepExtraFields(action));
        }
        Ok(())
    }
}

/// Whether `s` is a label name once its `$name`/`${name}` references are filled in:
/// Prometheus's `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` with ASCII `\w`. That
/// pattern reduces to: a non-empty sequence of items, each a `[a-zA-Z_]` or a
/// reference, where items may be followed by `\w*` — i.e. the string starts with a
/// letter, `_` or a reference, and digits only ever follow something.
fn is_valid_templated_name(s: &str) -> bool {
    let b = s.as_bytes();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        match b[i] {
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && is_word(b[j]) {
                        j += 1;
                    }
                    if j == start || b.get(j) != Some(&b'}') {
                        return false;
                    }
                    i = j + 1;
                } else {
                    let start = i;
                    while i < b.len() && is_word(b[i]) {
                        i += 1;
                    }
                    if i == start {
                        return false;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => i += 1,
            c if c.is_ascii_digit() && !first => i += 1,
            _ => return false,
        }
        first = false;
    }
    !first
}

/// The YAML shape, with enough information to tell an absent key (default) from an
/// explicit null (zero value), which Prometheus's loader treats differently.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    /// `None` when absent or null; `Some(vec![])` for `[]`, which labeldrop/labelkeep
    /// reject just like a non-empty list.
    #[serde(default)]
    source_labels: Option<Vec<String>>,
    #[serde(default = "default_separator", deserialize_with = "null_is_zero")]
    separator: String,
    /// `None` when absent; an explicit null is the empty pattern.
    #[serde(default, deserialize_with = "present_null_is_zero")]
    regex: Option<String>,
    #[serde(default, deserialize_with = "null_is_zero")]
    modulus: u64,
    #[serde(default, deserialize_with = "null_is_zero")]
    target_label: String,
    #[serde(default = "default_replacement", deserialize_with = "null_is_zero")]
    replacement: String,
    /// `Some("replace")` when absent, `None` for an explicit null.
    #[serde(default = "default_action")]
    action: Option<String>,
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

fn default_action() -> Option<String> {
    Some(Action::Replace.as_str().to_string())
}

fn null_is_zero<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn present_null_is_zero<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = ConfigError;

    fn try_from(raw: RawRelabelConfig) -> Result<Self, ConfigError> {
        // Same order as Prometheus: field parse errors (action, regex, source label
        // names) come before the cross-field checks.
        let action = match raw.action {
            None => return Err(ConfigError::EmptyAction),
            Some(a) => a.parse::<Action>()?,
        };
        let regex = match raw.regex {
            None => RelabelRegex::default(),
            Some(p) => RelabelRegex::new(&p)?,
        };
        let list_given = raw.source_labels.is_some();
        let cfg = RelabelConfig {
            source_labels: raw.source_labels.unwrap_or_default(),
            separator: raw.separator,
            regex,
            modulus: raw.modulus,
            target_label: raw.target_label,
            replacement: raw.replacement,
            action,
        };
        cfg.validate()?;
        // `source_labels: []` is "set" for Prometheus; `validate` only sees the list.
        if list_given && matches!(action, Action::LabelDrop | Action::LabelKeep) {
            return Err(ConfigError::LabelDropKeepExtraFields(action));
        }
        Ok(cfg)
    }
}

/// Quotes like Go's `%q`, so error texts read exactly as Prometheus prints them.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            // Go keeps printable non-ASCII as is; control and format characters are
            // escaped. Rust has no "printable" predicate, so this approximates it with
            // the control category, which covers what shows up in practice.
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
