//! Differential test against Debian's amtool 0.25: deterministic routing
//! configs of our own (nested routes, `continue`, regex and negative
//! matchers, legacy `match`/`match_re`, several matcher spellings and
//! group_by variants) × label sets, comparing the receivers Pharos picks
//! with what `amtool config routes test` prints. Fails (does not skip) when
//! amtool is missing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use pharos_alerting::Config;

const AMTOOL: &str = "/usr/bin/amtool";
const CONFIGS: usize = 24;
const LABEL_SETS: usize = 25;

/// A small deterministic generator (xorshift64*), so every run tests the
/// same configs.
/// It also remembers label pairs the config's matchers look for, so label
/// sets can be drawn to reach deep into the tree.
struct Rng(u64, Vec<(&'static str, &'static str)>);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const NAMES: [&str; 6] = ["severity", "team", "env", "service", "cluster", "alertname"];
const VALUES: [&str; 14] = [
    "critical", "warning", "info", "infra", "ops", "db", "prod", "dev", "staging", "prod-eu",
    "api.v2", "Web", "010", "True",
];
const REGEXES: [&str; 8] = [
    "infra|ops",
    "prod.*",
    ".*a.*",
    "(dev|staging)",
    "critical",
    "[a-z]+",
    "api\\\\.v[0-9]",
    "W.b|db",
];
/// A value each of `REGEXES` matches, index for index.
const REGEX_SAMPLES: [&str; 8] = [
    "ops", "prod-eu", "staging", "dev", "critical", "info", "api.v2", "Web",
];
const RECEIVERS: [&str; 8] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];

/// One matcher in one of the spellings amtool 0.25 accepts, as a YAML
/// string item.
fn matcher_item(rng: &mut Rng) -> String {
    let name = *rng.pick(&NAMES);
    let value_idx = rng.below(VALUES.len());
    let re_idx = rng.below(REGEXES.len());
    let (op, value) = match rng.below(4) {
        0 => {
            rng.1.push((name, VALUES[value_idx]));
            ("=", VALUES[value_idx].to_string())
        }
        1 => ("!=", VALUES[value_idx].to_string()),
        2 => {
            rng.1.push((name, REGEX_SAMPLES[re_idx]));
            ("=~", REGEXES[re_idx].to_string())
        }
        _ => ("!~", REGEXES[re_idx].to_string()),
    };
    let quoted = value.contains(['|', '(', '[', '\\', '*']) || rng.chance(50);
    let spaced = rng.chance(30);
    let sp = if spaced { " " } else { "" };
    let expr = if quoted {
        format!("{name}{sp}{op}{sp}\"{value}\"")
    } else {
        format!("{name}{sp}{op}{sp}{value}")
    };
    if rng.chance(20) {
        format!("'{{{expr}}}'")
    } else {
        format!("'{expr}'")
    }
}

fn legacy_eq(rng: &mut Rng) -> (&'static str, &'static str) {
    let pair = (*rng.pick(&NAMES), *rng.pick(&VALUES));
    rng.1.push(pair);
    pair
}

fn legacy_re(rng: &mut Rng) -> (&'static str, String) {
    let name = *rng.pick(&NAMES);
    let i = rng.below(REGEXES.len());
    rng.1.push((name, REGEX_SAMPLES[i]));
    // The YAML single-quoted form needs one backslash, not the two of the
    // double-quoted matcher form.
    (name, REGEXES[i].replace("\\\\", "\\"))
}

fn write_route(rng: &mut Rng, out: &mut String, indent: usize, depth: usize) {
    let pad = " ".repeat(indent);
    // Matchers: new-style, legacy, or both.
    match rng.below(4) {
        0 => {
            let n = 1 + rng.below(2);
            let items: Vec<String> = (0..n).map(|_| matcher_item(rng)).collect();
            let _ = writeln!(out, "{pad}matchers: [{}]", items.join(", "));
        }
        1 => {
            let (n, v) = legacy_eq(rng);
            // Unquoted, a value such as 010 or True must keep its spelling.
            let _ = writeln!(out, "{pad}match:\n{pad}  {n}: {v}");
        }
        2 => {
            let (n, v) = legacy_re(rng);
            let _ = writeln!(out, "{pad}match_re:\n{pad}  {n}: '{v}'");
        }
        _ => {
            let (n, v) = legacy_eq(rng);
            let _ = writeln!(out, "{pad}match:\n{pad}  {n}: '{v}'");
            let _ = writeln!(out, "{pad}matchers: [{}]", matcher_item(rng));
        }
    }
    if rng.chance(70) {
        let _ = writeln!(out, "{pad}receiver: {}", rng.pick(&RECEIVERS));
    }
    if rng.chance(35) {
        let _ = writeln!(out, "{pad}continue: true");
    }
    match rng.below(6) {
        0 => {
            let _ = writeln!(out, "{pad}group_by: ['...']");
        }
        1 => {
            let _ = writeln!(out, "{pad}group_by: []");
        }
        2 => {
            let _ = writeln!(out, "{pad}group_by: [cluster, service]");
        }
        _ => {}
    }
    if rng.chance(20) {
        let _ = writeln!(out, "{pad}group_wait: 1m\n{pad}repeat_interval: 2h");
    }
    if depth < 3 && rng.chance(55) {
        let _ = writeln!(out, "{pad}routes:");
        for _ in 0..1 + rng.below(3) {
            write_item(rng, out, indent, depth + 1);
        }
    }
}

/// Writes a route as a YAML list item whose dash sits at `indent`.
fn write_item(rng: &mut Rng, out: &mut String, indent: usize, depth: usize) {
    let mut item = String::new();
    write_route(rng, &mut item, indent + 2, depth);
    item.replace_range(indent..indent + 2, "- ");
    out.push_str(&item);
}

fn config_text(rng: &mut Rng) -> String {
    let mut out = String::from("route:\n  receiver: default\n  group_by: [alertname]\n  routes:\n");
    for _ in 0..2 + rng.below(3) {
        write_item(rng, &mut out, 2, 1);
    }
    out.push_str("receivers:\n- name: default\n");
    for r in RECEIVERS {
        let _ = writeln!(out, "- name: {r}");
    }
    out
}

fn label_set(rng: &mut Rng) -> BTreeMap<String, String> {
    let mut ls = BTreeMap::new();
    for _ in 0..rng.below(6) {
        let (n, v) = if !rng.1.is_empty() && rng.chance(70) {
            let i = rng.below(rng.1.len());
            rng.1[i]
        } else {
            (*rng.pick(&NAMES), *rng.pick(&VALUES))
        };
        ls.insert(n.to_string(), v.to_string());
    }
    ls
}

fn amtool_receivers(cfg: &Path, ls: &BTreeMap<String, String>) -> String {
    let mut cmd = Command::new(AMTOOL);
    cmd.args(["config", "routes", "test"])
        .arg(format!("--config.file={}", cfg.display()));
    for (k, v) in ls {
        cmd.arg(format!("{k}={v}"));
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {AMTOOL}: {e}"));
    assert!(
        out.status.success(),
        "amtool failed on {}: {}",
        cfg.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn receivers_agree_with_amtool_0_25() {
    assert!(
        Path::new(AMTOOL).exists(),
        "{AMTOOL} not found: install Debian's amtool with `apt-get install prometheus-alertmanager`"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(0x005e_ed0f_a1e7, Vec::new());
    let (mut agreed, mut total) = (0usize, 0usize);
    // How much of the tree the label sets reach, so a trivial run shows.
    let (mut non_default, mut multi) = (0usize, 0usize);
    let mut misses = Vec::new();
    for i in 0..CONFIGS {
        rng.1.clear();
        let text = config_text(&mut rng);
        let path = dir.path().join(format!("routes-{i:02}.yml"));
        std::fs::write(&path, &text).expect("write config");
        let cfg =
            Config::load_file(&path).unwrap_or_else(|e| panic!("config {i} refused: {e}\n{text}"));
        let tree = cfg.routing_tree().expect("routing tree");
        for _ in 0..LABEL_SETS {
            let ls = label_set(&mut rng);
            let ours = tree.receivers(&ls).join(",");
            let theirs = amtool_receivers(&path, &ls);
            total += 1;
            non_default += usize::from(theirs != "default");
            multi += usize::from(theirs.contains(','));
            if ours == theirs {
                agreed += 1;
            } else {
                misses.push(format!(
                    "config {i} labels {ls:?}: pharos {ours:?}, amtool {theirs:?}"
                ));
            }
        }
    }
    println!("amtool 0.25 routing differential: {agreed}/{total} agreed ({CONFIGS} configs x {LABEL_SETS} label sets)");
    println!("  label sets routed beyond the root: {non_default}; to several receivers: {multi}");
    for m in &misses {
        println!("  MISS {m}");
    }
    assert!(
        non_default * 4 >= total,
        "generator too weak: only {non_default}/{total} leave the root"
    );
    assert!(
        misses.is_empty(),
        "{} of {total} disagree:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
