//! Applying relabel steps to a label set.

use md5::{Digest, Md5};
use pharos_model::labels::is_valid_label_name;
use pharos_model::{Label, Labels};

use super::config::{Action, RelabelConfig};
use super::expand::{expand, replace_all};

/// Applies `configs` in order to `labels` and returns the result, or `None` if a
/// `keep`, `drop`, `keepequal` or `dropequal` step dropped the label set.
///
/// Semantics are Prometheus's (`model/relabel`):
/// - source values are the `source_labels` values (a missing label reads as "")
///   joined with `separator`;
/// - `replace`: if `regex` matches, `target_label` and `replacement` are expanded with
///   Go's `$1`/`${1}`/`$name` rules (see the module docs); a target that does not expand
///   to a valid label name leaves the labels unchanged, and an empty value removes the
///   target label;
/// - `hashmod`: the last 8 bytes of MD5(source values), big-endian, modulo `modulus`;
/// - `labelmap`: every label whose name matches `regex` is copied to the name
///   `replacement` expands to, over the label set as it was before the step; if two
///   labels map to the same name, the one visited last wins, in current Prometheus's
///   visiting order (labels untouched by earlier steps in name order, then labels
///   earlier steps wrote, in the order they were first written; Prometheus 2.4x and
///   older visited all labels in name order, which only differs for such collisions);
/// - setting a label to "" removes it, and input labels with empty values are removed
///   (even with no configs), as everywhere in Prometheus: "" means "no label".
///
/// A label set emptied by relabeling is returned as `Some` of an empty set; Prometheus's
/// scrape loop treats such a sample as dropped, which is the caller's decision.
///
/// Never panics, whatever the input and even for configs that would fail
/// [`RelabelConfig::validate`]: writes to names that are not valid label names are
/// skipped (so every label the steps add has a valid name; other input labels pass
/// through as they are), and `hashmod` with modulus 0 does nothing. One deliberate
/// difference: a `labelmap` whose expansion is not a valid name (`x_(.*)` on `x_1abc`
/// gives `1abc`) is skipped here, where Prometheus writes the label anyway and leaves a
/// label set that fails name validation further on.
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut b = Builder::new(labels);
    for cfg in configs {
        if !step(cfg, &mut b) {
            return None;
        }
    }
    Some(b.finish())
}

fn step(cfg: &RelabelConfig, b: &mut Builder<'_>) -> bool {
    let mut val = String::new();
    for (i, name) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            val.push_str(&cfg.separator);
        }
        val.push_str(b.get(name));
    }
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return b.get(&cfg.target_label) != val,
        Action::KeepEqual => return b.get(&cfg.target_label) == val,
        Action::Replace => {
            // Prometheus short-cuts the unset-regex, empty-value, no-template case;
            // the general path below gives the same result for it, so there is none.
            let re = cfg.regex.regex();
            let Some(caps) = re.captures(&val) else {
                return true;
            };
            let mut target = String::new();
            expand(&mut target, &cfg.target_label, &caps);
            if !is_valid_label_name(&target) {
                return true;
            }
            let mut value = String::new();
            expand(&mut value, &cfg.replacement, &caps);
            b.set(&target, value);
        }
        Action::Lowercase => b.set_checked(&cfg.target_label, go_to_lower(&val)),
        Action::Uppercase => b.set_checked(&cfg.target_label, go_to_upper(&val)),
        Action::HashMod => {
            let hash = Md5::digest(val.as_bytes());
            // Prometheus keeps only the last 8 bytes, for compatibility with its
            // earliest shard assignments; shards must agree with it.
            let tail = hash
                .iter()
                .skip(8)
                .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
            if let Some(shard) = tail.checked_rem(cfg.modulus) {
                b.set_checked(&cfg.target_label, shard.to_string());
            }
        }
        Action::LabelMap => {
            let re = cfg.regex.regex();
            for l in b.snapshot() {
                if re.is_match(&l.name) {
                    let name = replace_all(re, &l.name, &cfg.replacement);
                    b.set_checked(&name, l.value);
                }
            }
        }
        Action::LabelDrop => {
            for l in b.snapshot() {
                if cfg.regex.is_match(&l.name) {
                    b.del(&l.name);
                }
            }
        }
        Action::LabelKeep => {
            for l in b.snapshot() {
                if !cfg.regex.is_match(&l.name) {
                    b.del(&l.name);
                }
            }
        }
    }
    true
}

/// Go's `strings.ToLower`: per character, simple (one-to-one) case mapping. Rust's
/// `to_lowercase` uses full mappings (`İ` becomes two characters) and a final-sigma
/// rule, so results would differ from Prometheus's.
pub(crate) fn go_to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| {
            let mut it = c.to_lowercase();
            match (it.next(), it.next()) {
                (Some(l), None) => l,
                // Only U+0130 `İ` has a multi-character lowercase; its simple one is `i`.
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: per character, simple case mapping (`ß` stays `ß` where
/// Rust's `to_uppercase` gives `SS`).
pub(crate) fn go_to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars()
        .map(|c| {
            let mut it = c.to_uppercase();
            match (it.next(), it.next()) {
                (Some(u), None) => u,
                _ => simple_upper_of_expanding(c),
            }
        })
        .collect()
}

/// The simple uppercase of a character whose full uppercase is several characters:
/// itself, except the Greek letters with ypogegrammeni, whose simple uppercase is the
/// prosgegrammeni capital.
fn simple_upper_of_expanding(c: char) -> char {
    let u = c as u32;
    let mapped = match u {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => u + 9,
        _ => u,
    };
    char::from_u32(mapped).unwrap_or(c)
}

/// Mirrors Prometheus's `labels.Builder`: the input set plus an ordered list of written
/// labels and a list of deleted names. The order matters for `labelmap`, which visits
/// untouched input labels in name order and then written labels in write order.
struct Builder<'a> {
    base: &'a [Label],
    /// Written labels in first-write order; values are never empty.
    add: Vec<Label>,
    /// Deleted names; a name in `add` is present even if it is also listed here.
    del: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(labels: &'a Labels) -> Self {
        // An empty value means "no label" in Prometheus; its builder starts by deleting
        // such labels, so they never reach the output.
        let del = labels
            .iter()
            .filter(|l| l.value.is_empty())
            .map(|l| l.name.clone())
            .collect();
        Builder {
            base: labels.as_slice(),
            add: Vec::new(),
            del,
        }
    }

    fn get(&self, name: &str) -> &str {
        if let Some(l) = self.add.iter().find(|l| l.name == name) {
            return &l.value;
        }
        if self.del.iter().any(|d| d == name) {
            return "";
        }
        self.base
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .map_or("", |i| self.base[i].value.as_str())
    }

    fn set(&mut self, name: &str, value: String) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        if let Some(l) = self.add.iter_mut().find(|l| l.name == name) {
            l.value = value;
            return;
        }
        self.add.push(Label::new(name, value));
    }

    /// `set` for names the config chose; invalid names are skipped so the output only
    /// ever gains valid label names.
    fn set_checked(&mut self, name: &str, value: String) {
        if is_valid_label_name(name) {
            self.set(name, value);
        }
    }

    fn del(&mut self, name: &str) {
        self.add.retain(|l| l.name != name);
        if !self.del.iter().any(|d| d == name) {
            self.del.push(name.to_string());
        }
    }

    fn is_shadowed(&self, name: &str) -> bool {
        self.del.iter().any(|d| d == name) || self.add.iter().any(|l| l.name == name)
    }

    /// The current labels in Prometheus's visiting order, copied so the step can write
    /// while it walks them.
    fn snapshot(&self) -> Vec<Label> {
        let mut out: Vec<Label> = self
            .base
            .iter()
            .filter(|l| !self.is_shadowed(&l.name))
            .cloned()
            .collect();
        out.extend(self.add.iter().cloned());
        out
    }

    fn finish(self) -> Labels {
        if self.add.is_empty() && self.del.is_empty() {
            return Labels::from_sorted(self.base.to_vec());
        }
        let mut out: Vec<Label> = self
            .base
            .iter()
            .filter(|l| !self.is_shadowed(&l.name))
            .cloned()
            .collect();
        out.extend(self.add);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Labels::from_sorted(out)
    }
}
