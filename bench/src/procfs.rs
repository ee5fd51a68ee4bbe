//! Resource usage of a server process, read from /proc.

use anyhow::{anyhow, Context, Result};

/// utime + stime of the whole process (all threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_second())
}

/// The command name (field 2) may contain spaces and parentheses, so fields
/// are counted from the last ')'.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| anyhow!("malformed stat line"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command come state (field 3) ... utime (14) and stime (15).
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .ok_or_else(|| anyhow!("stat line too short"))?
            .parse::<u64>()
            .context("parsing stat field")
    };
    Ok(field(14)? + field(15)?)
}

/// Busy CPU-seconds of the whole machine since boot (all CPUs, everything but
/// idle and iowait), to tell how much unrelated work overlapped a measurement.
pub fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    parse_busy_ticks(&stat).map(|t| t as f64 / clock_ticks_per_second())
}

fn parse_busy_ticks(stat: &str) -> Result<u64> {
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| anyhow!("no cpu line in /proc/stat"))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal; guest time is already
    // included in user.
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    Ok(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Current resident set size, bytes.
    pub rss: u64,
    /// Peak resident set size since the process started, bytes.
    pub hwm: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_memory(&status)
}

fn parse_memory(status: &str) -> Result<Memory> {
    let kb = |key: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(key))
            .ok_or_else(|| anyhow!("{key} missing from status"))?;
        let v: u64 = line[key.len()..]
            .split_whitespace()
            .next()
            .ok_or_else(|| anyhow!("{key} has no value"))?
            .parse()
            .context("parsing status value")?;
        Ok(v * 1024)
    };
    Ok(Memory {
        rss: kb("VmRSS:")?,
        hwm: kb("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let line = "1234 (a b) c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 5 0";
        assert_eq!(parse_cpu_ticks(line).unwrap(), 325);
    }

    #[test]
    fn parses_machine_stat() {
        let s = "cpu  10 1 5 1000 7 2 3 4 9 0\ncpu0 5 0 2 500 3 1 1 2 4 0\n";
        assert_eq!(parse_busy_ticks(s).unwrap(), 10 + 1 + 5 + 2 + 3 + 4);
    }

    #[test]
    fn parses_status() {
        let s = "Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        let m = parse_memory(s).unwrap();
        assert_eq!(m.rss, 1024 * 1024);
        assert_eq!(m.hwm, 2048 * 1024);
    }

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        let m = memory(pid).unwrap();
        assert!(m.hwm >= m.rss && m.rss > 0);
    }
}
