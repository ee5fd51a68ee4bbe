//! The results table and the Pharos-versus-peer ratios.

use std::fmt::Write;

use crate::send::SendStats;
use crate::targets::Kind;

/// Everything measured for one target at one series count. Fields stay `None`
/// when the run failed before reaching them.
#[derive(Debug)]
pub struct Measurement {
    pub kind: Kind,
    pub series: usize,
    pub stats: Option<SendStats>,
    pub flush_secs: Option<f64>,
    pub cpu_secs: Option<f64>,
    pub idle_rss: Option<u64>,
    pub peak_rss: Option<u64>,
    pub disk_bytes: Option<u64>,
    pub check: String,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

impl Measurement {
    pub fn new(kind: Kind, series: usize) -> Self {
        Measurement {
            kind,
            series,
            stats: None,
            flush_secs: None,
            cpu_secs: None,
            idle_rss: None,
            peak_rss: None,
            disk_bytes: None,
            check: "-".into(),
            notes: Vec::new(),
            error: None,
        }
    }

    fn accepted(&self) -> Option<u64> {
        self.stats.as_ref().map(|s| s.accepted).filter(|&a| a > 0)
    }

    /// CPU-seconds per million accepted samples, which is numerically the
    /// same as CPU microseconds per sample.
    pub fn cpu_per_million(&self) -> Option<f64> {
        Some(self.cpu_secs? / self.accepted()? as f64 * 1e6)
    }

    pub fn rss_per_series(&self) -> Option<f64> {
        let grown = self.peak_rss?.saturating_sub(self.idle_rss?);
        Some(grown as f64 / self.series as f64)
    }

    pub fn disk_per_sample(&self) -> Option<f64> {
        Some(self.disk_bytes? as f64 / self.accepted()? as f64)
    }

    pub fn load_secs(&self) -> Option<f64> {
        self.stats.as_ref().map(|s| s.elapsed.as_secs_f64())
    }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.decimals$}"))
}

fn mib(b: Option<u64>) -> Option<f64> {
    b.map(|b| b as f64 / 1048576.0)
}

pub fn table(rows: &[Measurement]) -> String {
    let mut out = String::new();
    out.push_str(
        "| Active series | Target | Samples accepted | Rejected / failed | Load s | Flush s \
         | CPU-s per 1M samples (= µs CPU/sample) | Peak RSS MiB | Idle RSS MiB \
         | RSS bytes / active series | Disk bytes / sample | Read-back |\n",
    );
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for m in rows {
        let (accepted, lost) = match &m.stats {
            Some(s) => (
                s.accepted.to_string(),
                format!("{} / {}", s.rejected, s.failed),
            ),
            None => ("n/a".into(), "n/a".into()),
        };
        let check = match &m.error {
            Some(_) => "run failed (see notes)".to_string(),
            None => m.check.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.series,
            m.kind.name(),
            accepted,
            lost,
            opt(m.load_secs(), 1),
            opt(m.flush_secs, 1),
            opt(m.cpu_per_million(), 2),
            opt(mib(m.peak_rss), 1),
            opt(mib(m.idle_rss), 1),
            opt(m.rss_per_series(), 0),
            opt(m.disk_per_sample(), 3),
            check,
        );
    }
    out
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".into(),
    }
}

/// One line per (series count, peer): Pharos' figure divided by the peer's,
/// so values below 1 mean Pharos uses less.
pub fn ratios(rows: &[Measurement]) -> String {
    let mut out = String::new();
    let mut counts: Vec<usize> = rows.iter().map(|m| m.series).collect();
    counts.dedup();
    for series in counts {
        let find = |k: Kind| {
            rows.iter()
                .find(|m| m.series == series && m.kind == k && m.error.is_none())
        };
        let Some(p) = rows
            .iter()
            .find(|m| m.series == series && m.kind == Kind::Pharos)
        else {
            continue;
        };
        for peer in [Kind::Prometheus, Kind::VictoriaMetrics] {
            if !rows.iter().any(|m| m.series == series && m.kind == peer) {
                continue;
            }
            let (pm, q) = (find(Kind::Pharos), find(peer));
            let line = if pm.is_none() {
                format!(
                    "n/a (Pharos run failed: {})",
                    first_line(p.error.as_deref())
                )
            } else if q.is_none() {
                format!("n/a ({} run failed)", peer.name())
            } else {
                let get = |f: fn(&Measurement) -> Option<f64>| ratio(pm.and_then(f), q.and_then(f));
                format!(
                    "CPU/sample {}, peak RSS {}, RSS/series {}, disk/sample {}, load wall time {}",
                    get(Measurement::cpu_per_million),
                    get(|m| m.peak_rss.map(|v| v as f64)),
                    get(Measurement::rss_per_series),
                    get(Measurement::disk_per_sample),
                    get(Measurement::load_secs),
                )
            };
            let _ = writeln!(out, "- {series} series, Pharos/{}: {line}", peer.name());
        }
    }
    out
}

fn first_line(s: Option<&str>) -> &str {
    s.and_then(|s| s.lines().next()).unwrap_or("unknown error")
}

pub fn notes(rows: &[Measurement]) -> String {
    let mut out = String::new();
    for m in rows {
        let mut items: Vec<String> = Vec::new();
        if let Some(e) = &m.error {
            items.push(format!("error: {}", e.replace('\n', "\n    ")));
        }
        if let Some(s) = &m.stats {
            if s.retries > 0 {
                items.push(format!("{} request retries", s.retries));
            }
            if let Some(a) = &s.aborted {
                items.push(format!("load stopped early: {a}"));
            }
            for e in &s.errors {
                items.push(format!("sample error: {e}"));
            }
        }
        items.extend(m.notes.iter().cloned());
        for i in items {
            let _ = writeln!(out, "- {} @ {} series: {i}", m.kind.name(), m.series);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(kind: Kind, cpu: f64, disk: u64) -> Measurement {
        let mut m = Measurement::new(kind, 1000);
        m.stats = Some(SendStats {
            accepted: 2000,
            elapsed: Duration::from_secs(4),
            ..Default::default()
        });
        m.cpu_secs = Some(cpu);
        m.idle_rss = Some(10 << 20);
        m.peak_rss = Some(20 << 20);
        m.disk_bytes = Some(disk);
        m.flush_secs = Some(0.5);
        m
    }

    #[test]
    fn derives_figures_and_ratios() {
        let p = row(Kind::Pharos, 0.002, 3000);
        assert!((p.cpu_per_million().unwrap() - 1.0).abs() < 1e-9);
        assert!((p.disk_per_sample().unwrap() - 1.5).abs() < 1e-9);
        assert!((p.rss_per_series().unwrap() - 10485.76).abs() < 1e-6);
        let rows = vec![p, row(Kind::Prometheus, 0.004, 6000)];
        let t = table(&rows);
        assert_eq!(t.lines().count(), 4);
        let r = ratios(&rows);
        assert!(r.contains("Pharos/Prometheus: CPU/sample 0.50×"), "{r}");
        assert!(r.contains("disk/sample 0.50×"), "{r}");
        assert!(!r.contains("VictoriaMetrics"));
    }

    #[test]
    fn failed_pharos_gives_na_ratios() {
        let mut p = Measurement::new(Kind::Pharos, 1000);
        p.error = Some("binary not found\nmore".into());
        let rows = vec![p, row(Kind::VictoriaMetrics, 0.004, 6000)];
        let r = ratios(&rows);
        assert!(
            r.contains("n/a (Pharos run failed: binary not found)"),
            "{r}"
        );
        assert!(notes(&rows).contains("error: binary not found"));
    }
}
