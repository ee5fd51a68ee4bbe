//! Tallies and the Markdown report: per file, and for the subsets the conformance README
//! defines through `inventory.csv` (evals without native histograms, tier-1 core).

use super::run::{FileReport, Status};
use std::collections::HashMap;
use std::fmt::Write;

/// The file whose evals all count as native-histogram ones, whatever their tags say.
const NATIVE_HISTOGRAM_FILE: &str = "native_histograms.test";

/// What `inventory.csv` says about one eval.
#[derive(Clone, Debug, Default)]
pub struct InventoryRow {
    pub tags: Vec<String>,
    pub file_feature: String,
    pub tier1_core: bool,
}

impl InventoryRow {
    pub fn is_native_histogram(&self) -> bool {
        self.tags.iter().any(|t| t == "native_histogram")
    }
}

/// `inventory.csv`, keyed by (file, line of the eval).
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    rows: HashMap<(String, usize), InventoryRow>,
}

impl Inventory {
    pub fn parse(csv: &str) -> Result<Inventory, String> {
        let records = parse_csv(csv)?;
        let mut it = records.into_iter();
        let header = it.next().ok_or("empty inventory")?;
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("inventory has no {name:?} column"))
        };
        let (file, line, tags, feature, tier1) = (
            col("file")?,
            col("line")?,
            col("tags")?,
            col("file_feature")?,
            col("tier1_core")?,
        );
        let mut rows = HashMap::new();
        for (n, r) in it.enumerate() {
            if r.len() == 1 && r[0].is_empty() {
                continue;
            }
            let get = |i: usize| {
                r.get(i)
                    .map(String::as_str)
                    .ok_or_else(|| format!("inventory row {} is short", n + 2))
            };
            let line_no: usize = get(line)?
                .parse()
                .map_err(|_| format!("inventory row {}: bad line number", n + 2))?;
            rows.insert(
                (get(file)?.to_string(), line_no),
                InventoryRow {
                    tags: get(tags)?.split_whitespace().map(str::to_string).collect(),
                    file_feature: get(feature)?.to_string(),
                    tier1_core: get(tier1)? == "1",
                },
            );
        }
        Ok(Inventory { rows })
    }

    pub fn get(&self, file: &str, line: usize) -> Option<&InventoryRow> {
        self.rows.get(&(file.to_string(), line))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Evals outside native_histograms.test without the native_histogram tag.
    pub fn non_nh_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|((f, _), r)| f != NATIVE_HISTOGRAM_FILE && !r.is_native_histogram())
            .count()
    }

    pub fn tier1_count(&self) -> usize {
        self.rows.values().filter(|r| r.tier1_core).count()
    }
}

/// RFC 4180 records: quoted fields may hold commas, newlines and doubled quotes.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quoted field in inventory".into());
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// Counts over a set of evals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub evals: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Passed, but the error text differed from `msg:`/`regex:`.
    pub message_differs: usize,
    /// Evals asserting an error text (`expect fail msg:`/`regex:`).
    pub error_text_checked: usize,
    /// Failed only on warn/info annotations.
    pub annotations_only: usize,
    /// Evals with a re-check that could not be built (their `note`), e.g. `@` variants of a
    /// query the parser here cannot rewrite.
    pub with_notes: usize,
}

impl Totals {
    fn add(&mut self, o: &super::run::EvalOutcome) {
        self.evals += 1;
        match o.status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
        }
        if o.status == Status::Passed && o.message_differs.is_some() {
            self.message_differs += 1;
        }
        if o.checks_error_text {
            self.error_text_checked += 1;
        }
        if o.annotations_only {
            self.annotations_only += 1;
        }
        if o.note.is_some() {
            self.with_notes += 1;
        }
    }

    /// `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub all: Totals,
    /// Evals the inventory does not tag native_histogram, outside native_histograms.test.
    pub non_nh: Totals,
    /// Evals the inventory marks tier1_core.
    pub tier1: Totals,
    pub per_file: Vec<(String, Totals)>,
    /// How many evals each subset holds according to the inventory.
    pub inventory_non_nh: usize,
    pub inventory_tier1: usize,
    pub inventory_evals: usize,
    /// Evals run here that the inventory does not list (file:line).
    pub not_in_inventory: Vec<String>,
}

pub fn summarize(reports: &[FileReport], inv: &Inventory) -> Summary {
    let mut s = Summary {
        inventory_non_nh: inv.non_nh_count(),
        inventory_tier1: inv.tier1_count(),
        inventory_evals: inv.len(),
        ..Summary::default()
    };
    for r in reports {
        let mut ft = Totals::default();
        for o in &r.outcomes {
            ft.add(o);
            s.all.add(o);
            match inv.get(&r.file, o.line) {
                Some(row) => {
                    if r.file != NATIVE_HISTOGRAM_FILE && !row.is_native_histogram() {
                        s.non_nh.add(o);
                    }
                    if row.tier1_core {
                        s.tier1.add(o);
                    }
                }
                None => s.not_in_inventory.push(format!("{}:{}", r.file, o.line)),
            }
        }
        s.per_file.push((r.file.clone(), ft));
    }
    s
}

/// The run's last line, as the test prints it.
pub fn final_line(s: &Summary) -> String {
    format!("promqltest: {}", s.all.line())
}

fn shorten(s: &str, max: usize) -> String {
    let one_line = s.replace('\n', "\\n");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max).collect();
    format!("{cut}…")
}

/// Markdown code span that survives backticks in the content.
fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// The per-file table.
pub fn render_table(s: &Summary) -> String {
    let mut out = String::new();
    out.push_str(
        "| file | evals | passed | failed | skipped (NH) | msg differs | annotations only |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for (file, t) in &s.per_file {
        let _ = writeln!(
            out,
            "| {file} | {} | {} | {} | {} | {} | {} |",
            t.evals, t.passed, t.failed, t.skipped, t.message_differs, t.annotations_only
        );
    }
    let t = &s.all;
    let _ = writeln!(
        out,
        "| **total** | {} | {} | {} | {} | {} | {} |",
        t.evals, t.passed, t.failed, t.skipped, t.message_differs, t.annotations_only
    );
    out
}

/// The totals block: all evals, the two inventory subsets, and the error-text score.
pub fn render_totals(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "- all evals ({}): {}", s.all.evals, s.all.line());
    let _ = writeln!(
        out,
        "- without native histograms ({} of {} in the inventory): {}",
        s.non_nh.evals,
        s.inventory_non_nh,
        s.non_nh.line()
    );
    let _ = writeln!(
        out,
        "- tier-1 core ({} of {} in the inventory): {}",
        s.tier1.evals,
        s.inventory_tier1,
        s.tier1.line()
    );
    let _ = writeln!(
        out,
        "- error text (`expect fail msg:`/`regex:`): {} evals assert it; {} failed as expected but with a different message (counted as passed)",
        s.all.error_text_checked, s.all.message_differs
    );
    let _ = writeln!(
        out,
        "- failures only on warn/info annotations: {} (tier-1: {})",
        s.all.annotations_only, s.tier1.annotations_only
    );
    let _ = writeln!(
        out,
        "- evals whose `@` variants could not be built and were not run (see Notes): {} (tier-1: {})",
        s.all.with_notes, s.tier1.with_notes
    );
    if !s.not_in_inventory.is_empty() {
        let _ = writeln!(
            out,
            "- evals missing from inventory.csv: {}",
            s.not_in_inventory.join(", ")
        );
    }
    out
}

/// Failures, then the separately-scored message mismatches, problems and notes.
pub fn render_details(reports: &[FileReport]) -> String {
    let mut out = String::new();
    out.push_str("## Failures\n\n");
    for r in reports {
        for o in r.outcomes.iter().filter(|o| o.status == Status::Failed) {
            let _ = writeln!(
                out,
                "- {}:{} {}{} — {}",
                r.file,
                o.line,
                code(&shorten(&o.query, 160)),
                if o.annotations_only {
                    " (annotations only)"
                } else {
                    ""
                },
                shorten(o.reason.as_deref().unwrap_or("?"), 400)
            );
        }
    }
    out.push_str("\n## Message differs (passed)\n\n");
    for r in reports {
        for o in &r.outcomes {
            if let (Status::Passed, Some(m)) = (o.status, &o.message_differs) {
                let _ = writeln!(
                    out,
                    "- {}:{} {} — {}",
                    r.file,
                    o.line,
                    code(&shorten(&o.query, 160)),
                    shorten(m, 400)
                );
            }
        }
    }
    let problems: Vec<&String> = reports.iter().flat_map(|r| &r.problems).collect();
    if !problems.is_empty() {
        out.push_str("\n## Problems outside evals\n\n");
        for p in problems {
            let _ = writeln!(out, "- {}", shorten(p, 400));
        }
    }
    let notes: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.outcomes.iter().filter_map(move |o| {
                o.note
                    .as_ref()
                    .map(|n| format!("- {}:{} — {}", r.file, o.line, shorten(n, 300)))
            })
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

/// The whole report as Markdown.
pub fn render_markdown(reports: &[FileReport], s: &Summary) -> String {
    let mut out = String::from("# promqltest report\n\n");
    out.push_str(&render_table(s));
    out.push_str("\n## Totals\n\n");
    out.push_str(&render_totals(s));
    out.push('\n');
    out.push_str(&render_details(reports));
    out.push('\n');
    out.push_str(&final_line(s));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::run::EvalOutcome;
    use super::*;

    #[test]
    fn csv_quoting() {
        let r = parse_csv("a,b,c\n1,\"x, \"\"y\"\"\",\n2,\"multi\nline\",z\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], vec!["1", "x, \"y\"", ""]);
        assert_eq!(r[2], vec!["2", "multi\nline", "z"]);
        assert!(parse_csv("a,\"b\n").is_err());
    }

    fn outcome(line: usize, status: Status) -> EvalOutcome {
        EvalOutcome {
            line,
            query: "q".into(),
            status,
            reason: (status == Status::Failed).then(|| "why".to_string()),
            skip: None,
            message_differs: None,
            annotations_only: false,
            checks_error_text: false,
            note: None,
        }
    }

    #[test]
    fn subsets_follow_the_inventory() {
        let inv = Inventory::parse(
            "file,line,kind,query,tags,file_feature,tier1_core\n\
             a.test,1,instant,\"sum(x, y)\",,,1\n\
             a.test,5,instant,q,native_histogram,,0\n\
             a.test,9,range,q,experimental_func,,0\n\
             native_histograms.test,3,instant,q,,native histograms,0\n",
        )
        .unwrap();
        assert_eq!(inv.len(), 4);
        assert_eq!(inv.non_nh_count(), 2);
        assert_eq!(inv.tier1_count(), 1);
        let reports = vec![
            FileReport {
                file: "a.test".into(),
                outcomes: vec![
                    outcome(1, Status::Passed),
                    outcome(5, Status::Skipped),
                    outcome(9, Status::Failed),
                    outcome(11, Status::Passed),
                ],
                problems: vec![],
            },
            FileReport {
                file: "native_histograms.test".into(),
                outcomes: vec![outcome(3, Status::Failed)],
                problems: vec![],
            },
        ];
        let s = summarize(&reports, &inv);
        assert_eq!((s.all.passed, s.all.failed, s.all.skipped), (2, 2, 1));
        assert_eq!(
            (s.non_nh.passed, s.non_nh.failed, s.non_nh.evals),
            (1, 1, 2)
        );
        assert_eq!((s.tier1.passed, s.tier1.evals), (1, 1));
        assert_eq!(s.not_in_inventory, vec!["a.test:11".to_string()]);
        assert_eq!(final_line(&s), "promqltest: 2 passed, 2 failed, 1 skipped");
        let md = render_markdown(&reports, &s);
        assert!(md.contains("| a.test | 4 | 2 | 1 | 1 |"), "{md}");
        assert!(md.contains("- a.test:9 `q` — why"), "{md}");
        assert!(md
            .trim_end()
            .ends_with("promqltest: 2 passed, 2 failed, 1 skipped"));
    }
}
