//! Reading `pharos.yml` and reporting every problem with file, line, column and field path.
//!
//! serde stops at the first error. To report them all in one run, each parse error's
//! entry (the YAML key that owns the bad line, with everything nested under it) is
//! blanked out in a working copy of the text, keeping line numbers, and the copy parsed
//! again; the blanked field then takes its default, so later fields still get checked.

use super::validate::validate;
use super::Config;
use std::fmt;
use std::path::Path;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// Dotted field path (`storage.tsdb.retention`); empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one file, in file order for parse errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(ConfigErrors),
}

/// Reads, parses and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &text).map_err(LoadError::Invalid)
}

/// Bounds the recovery loop; a file with more broken entries than this gets the first ones.
const MAX_PARSE_ERRORS: usize = 100;

/// Parses and validates config text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    let mut work: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut errors: Vec<ConfigError> = Vec::new();
    // Syntax first: with the structure unknown, no field error would be trustworthy.
    if let Err(e) = check_syntax(text) {
        return Err(ConfigErrors(vec![e.into_config_error(file)]));
    }
    let mut current = text.to_owned();
    loop {
        match parse_once(&current) {
            Ok(config) if errors.is_empty() => {
                let problems = validate(&config);
                if problems.is_empty() {
                    return Ok(config);
                }
                let errors = problems
                    .into_iter()
                    .map(|(path, message)| ConfigError {
                        file: file.to_owned(),
                        position: locate(text, &path),
                        path,
                        message,
                    })
                    .collect();
                return Err(ConfigErrors(errors));
            }
            // Validation after a recovered parse would judge defaults standing in for the
            // broken entries, and could blame fields the user got right.
            Ok(_) => return Err(ConfigErrors(errors)),
            Err(e) => {
                let err = e.into_config_error(file);
                let line = err.position.map(|(l, _)| l);
                let repeated = errors.last() == Some(&err);
                if !repeated {
                    errors.push(err);
                }
                let recovered = !repeated
                    && errors.len() < MAX_PARSE_ERRORS
                    && line.is_some_and(|l| blank_entry(&mut work, l));
                if !recovered {
                    return Err(ConfigErrors(errors));
                }
                current = work.join("\n");
                // Blanking can break a construct spanning lines (a flow mapping); the
                // errors found so far are then all that can be said.
                if check_syntax(&current).is_err() {
                    return Err(ConfigErrors(errors));
                }
            }
        }
    }
}

struct ParseFailure {
    path: String,
    location: Option<(usize, usize)>,
    message: String,
}

impl ParseFailure {
    fn into_config_error(self, file: &str) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            position: self.location,
            path: self.path,
            message: self.message,
        }
    }
}

fn check_syntax(text: &str) -> Result<(), ParseFailure> {
    use serde::Deserialize;
    let de = serde_yaml::Deserializer::from_str(text);
    serde::de::IgnoredAny::deserialize(de)
        .map(|_| ())
        .map_err(|e| ParseFailure {
            location: e.location().map(|l| (l.line(), l.column())),
            message: format!("syntax error: {}", strip_position(&e)),
            path: String::new(),
        })
}

/// serde_yaml's message without the first " at line L column C", which the error line
/// carries in a fixed place instead.
fn strip_position(e: &serde_yaml::Error) -> String {
    let mut msg = e.to_string();
    if let Some(loc) = e.location() {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(i) = msg.find(&suffix) {
            msg.replace_range(i..i + suffix.len(), "");
        }
    }
    msg
}

fn parse_once(text: &str) -> Result<Config, ParseFailure> {
    let de = serde_yaml::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Option<Config>>(de) {
        Ok(c) => Ok(c.unwrap_or_default()),
        Err(e) => {
            let path = clean_path(&e.path().to_string());
            let inner = e.into_inner();
            let location = inner.location().map(|l| (l.line(), l.column()));
            Err(ParseFailure {
                message: bare_message(&inner, &path),
                path,
                location,
            })
        }
    }
}

/// serde_path_to_error writes `.` for the document root and `?` for unknown positions.
fn clean_path(p: &str) -> String {
    if p == "." || p == "?" {
        String::new()
    } else {
        p.to_owned()
    }
}

/// serde_yaml's message without the position and path it adds itself, since the error
/// line carries both in a fixed place.
fn bare_message(e: &serde_yaml::Error, path: &str) -> String {
    let msg = strip_position(e);
    // serde_yaml prefixes its own notion of the path, which is the field's or its parent's.
    let mut prefixes: Vec<&str> = vec![path];
    let mut p = path;
    while let Some(i) = p.rfind('.') {
        p = &p[..i];
        prefixes.push(p);
    }
    for prefix in prefixes.into_iter().filter(|p| !p.is_empty()) {
        if let Some(rest) = msg.strip_prefix(&format!("{prefix}: ")) {
            return rest.to_owned();
        }
    }
    msg
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key of a block-mapping line (`  name: value`, `- name: value`), if it is one.
fn line_key(line: &str) -> Option<(usize, &str)> {
    let indent = indent_of(line);
    let mut body = &line[indent..];
    let mut col = indent;
    while let Some(rest) = body.strip_prefix("- ") {
        col += 2 + indent_of(rest);
        body = rest.trim_start_matches(' ');
    }
    let end = body
        .find(": ")
        .or_else(|| body.strip_suffix(':').map(str::len))?;
    let key = body[..end].trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    if key.is_empty() || key.starts_with('#') || key.starts_with('{') || key.starts_with('[') {
        return None;
    }
    Some((col, key))
}

/// Blanks the entry owning 1-based `line`: the nearest key line at or above it that is
/// less indented (or the line itself when it is a key), and every line nested under it.
/// Returns false when nothing could be removed.
fn blank_entry(lines: &mut [String], line: usize) -> bool {
    let Some(mut idx) = line.checked_sub(1).filter(|&i| i < lines.len()) else {
        return false;
    };
    if is_blank(&lines[idx]) {
        return false;
    }
    let mut limit = indent_of(&lines[idx]);
    if line_key(&lines[idx]).is_none() {
        // A value continued on its own line: its owner is the key above it.
        let owner = (0..idx).rev().find(|&i| {
            !is_blank(&lines[i]) && indent_of(&lines[i]) < limit && line_key(&lines[i]).is_some()
        });
        if let Some(o) = owner {
            idx = o;
            limit = indent_of(&lines[o]);
        }
    }
    lines[idx].clear();
    for l in lines.iter_mut().skip(idx + 1) {
        if is_blank(l) {
            continue;
        }
        if indent_of(l) <= limit {
            break;
        }
        l.clear();
    }
    true
}

/// Where the key at dotted `path` is written in block-style YAML, as 1-based (line, column).
pub(crate) fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut stack: Vec<(usize, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if is_blank(line) || line.starts_with("---") {
            continue;
        }
        let Some((col, key)) = line_key(line) else {
            continue;
        };
        while stack.last().is_some_and(|&(c, _)| c >= col) {
            stack.pop();
        }
        stack.push((col, key));
        let here = stack.iter().map(|(_, k)| *k).collect::<Vec<_>>().join(".");
        if here == path {
            return Some((i + 1, col + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse("pharos.yml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn bad_duration_names_file_line_and_path() {
        let text = "storage:\n  tsdb:\n    retention: 15x\n";
        assert_eq!(
            errors(text),
            vec![
                r#"pharos.yml:3:16: storage.tsdb.retention: invalid duration "15x": unknown unit "x" (one of y, w, d, h, m, s, ms)"#
            ]
        );
    }

    #[test]
    fn all_parse_errors_are_reported() {
        let text = "\
storage:
  tsdb:
    retention: 15x
    bogus: 1
    wal:
      fsync: sometimes
      nested_unknown:
        a: 1
    block_span: 2h
server:
  write_timeout: -1s
  max_request_bytes: 10XB
extra: true
";
        let errs = errors(text);
        assert_eq!(errs.len(), 7, "{errs:#?}");
        assert!(
            errs[0].starts_with("pharos.yml:3:16: storage.tsdb.retention: invalid duration"),
            "{}",
            errs[0]
        );
        assert!(
            errs[1].starts_with("pharos.yml:4:5: storage.tsdb.bogus: unknown field `bogus`"),
            "{}",
            errs[1]
        );
        assert!(
            errs[2].starts_with(
                "pharos.yml:6:14: storage.tsdb.wal.fsync: unknown variant `sometimes`"
            ),
            "{}",
            errs[2]
        );
        assert!(
            errs[3].starts_with("pharos.yml:7:7: storage.tsdb.wal.nested_unknown: unknown field"),
            "{}",
            errs[3]
        );
        assert!(
            errs[4].starts_with("pharos.yml:11:18: server.write_timeout: invalid duration \"-1s\""),
            "{}",
            errs[4]
        );
        assert!(
            errs[5].contains("pharos.yml:12:22: server.max_request_bytes: invalid size \"10XB\""),
            "{}",
            errs[5]
        );
        assert!(
            errs[6].starts_with("pharos.yml:13:1: extra: unknown field `extra`"),
            "{}",
            errs[6]
        );
    }

    #[test]
    fn value_on_next_line_blames_its_key_once() {
        let text = "storage:\n  tsdb:\n    retention:\n      15x\n    block_span: 0s\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("storage.tsdb.retention: invalid duration"));
    }

    #[test]
    fn syntax_error_is_reported_alone() {
        let errs = errors("storage:\n  tsdb:\n   retention: 1d\n  foo: 1\n\tbar\n");
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].starts_with("pharos.yml:5:1: syntax error: found a tab character"),
            "{}",
            errs[0]
        );
        let errs = errors("storage:\n  tsdb: {retention: 1d\n");
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains(": syntax error: "), "{}", errs[0]);
    }

    #[test]
    fn wrong_types() {
        let errs = errors("storage: 5\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("storage: invalid type"), "{}", errs[0]);
        let errs = errors("server:\n  max_inflight_writes: many\n");
        assert!(
            errs[0].starts_with("pharos.yml:2:24: server.max_inflight_writes: invalid type"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn locate_finds_keys() {
        let text = "storage:\n  # c\n  tsdb:\n    wal:\n      fsync: always\n    block_span: 0s\nserver:\n  x: 1\n";
        assert_eq!(locate(text, "storage.tsdb.block_span"), Some((6, 5)));
        assert_eq!(locate(text, "storage.tsdb.wal.fsync"), Some((5, 7)));
        assert_eq!(locate(text, "server.x"), Some((8, 3)));
        assert_eq!(locate(text, "server.y"), None);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = load_file(Path::new("/nonexistent/pharos.yml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file /nonexistent/pharos.yml"),
            "{err}"
        );
    }
}
