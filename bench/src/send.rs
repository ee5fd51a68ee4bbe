//! Replays a spool to a remote_write endpoint with concurrent senders.
//!
//! Each sender owns one spool file, i.e. a fixed subset of the scrape targets,
//! and sends its requests strictly one after another, which keeps every
//! series in time order while the senders overlap, the way Prometheus' own
//! remote_write shards do.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::load::{ShardFile, Spool};
use crate::util::interrupted;

#[derive(Clone, Debug)]
pub struct SendOptions {
    pub url: String,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Attempts per request on 429/5xx/transport errors before giving up.
    pub max_attempts: u32,
    /// Hard bound on the whole replay.
    pub deadline: Duration,
    /// Print progress to stderr every this often.
    pub progress_every: Duration,
}

#[derive(Debug, Default)]
pub struct SendStats {
    pub requests: u64,
    /// Samples in requests answered with 2xx.
    pub accepted: u64,
    /// Samples in requests answered with a non-retryable 4xx.
    pub rejected: u64,
    /// Samples never delivered: retries exhausted, or the replay stopped.
    pub failed: u64,
    pub retries: u64,
    pub elapsed: Duration,
    /// First few distinct error descriptions.
    pub errors: Vec<String>,
    /// Why the replay stopped early, if it did.
    pub aborted: Option<String>,
}

struct Shared {
    requests: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
    stop: AtomicBool,
    errors: Mutex<Vec<String>>,
    abort_reason: Mutex<Option<String>>,
}

impl Shared {
    fn note_error(&self, e: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < 5 && !errors.contains(&e) {
            errors.push(e);
        }
    }

    fn abort(&self, reason: String) {
        let mut r = self.abort_reason.lock().unwrap_or_else(|p| p.into_inner());
        r.get_or_insert(reason);
        self.stop.store(true, Ordering::SeqCst);
    }
}

enum Outcome {
    Accepted,
    Rejected(String),
    GaveUp(String),
}

fn post_with_retries(
    client: &reqwest::blocking::Client,
    opts: &SendOptions,
    shared: &Shared,
    body: &[u8],
) -> Outcome {
    let mut backoff = Duration::from_millis(100);
    let mut last = String::new();
    for attempt in 1..=opts.max_attempts {
        if attempt > 1 {
            shared.retries.fetch_add(1, Ordering::Relaxed);
            if crate::util::sleep(backoff).is_err() {
                return Outcome::GaveUp("interrupted".into());
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        let resp = client
            .post(&opts.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header("User-Agent", "pharos-bench")
            .body(body.to_vec())
            .send();
        match resp {
            Ok(r) => {
                let status = r.status();
                // Drain the body so the connection can be reused.
                let text = r.text().unwrap_or_default();
                if status.is_success() {
                    return Outcome::Accepted;
                }
                let msg = format!("HTTP {}: {}", status.as_u16(), snippet(&text));
                if status.as_u16() == 429 || status.is_server_error() {
                    last = msg;
                    continue;
                }
                return Outcome::Rejected(msg);
            }
            Err(e) => last = format!("transport: {e}"),
        }
    }
    Outcome::GaveUp(format!(
        "{} attempts failed, last: {last}",
        opts.max_attempts
    ))
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].replace('\n', " ")
}

fn read_frame(r: &mut impl Read, body: &mut Vec<u8>) -> Result<Option<u32>> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let samples = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    body.resize(len, 0);
    r.read_exact(body).context("truncated spool frame")?;
    Ok(Some(samples))
}

fn run_shard(
    client: &reqwest::blocking::Client,
    opts: &SendOptions,
    shared: &Shared,
    shard: &ShardFile,
    started: Instant,
) -> Result<()> {
    let file =
        File::open(&shard.path).with_context(|| format!("opening {}", shard.path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut body = Vec::new();
    while let Some(samples) = read_frame(&mut reader, &mut body)? {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        if interrupted() {
            shared.abort("interrupted".into());
            break;
        }
        if started.elapsed() > opts.deadline {
            shared.abort(format!("load deadline of {:?} reached", opts.deadline));
            break;
        }
        shared.requests.fetch_add(1, Ordering::Relaxed);
        match post_with_retries(client, opts, shared, &body) {
            Outcome::Accepted => {
                shared
                    .accepted
                    .fetch_add(u64::from(samples), Ordering::Relaxed);
            }
            Outcome::Rejected(e) => {
                shared
                    .rejected
                    .fetch_add(u64::from(samples), Ordering::Relaxed);
                shared.note_error(e);
            }
            Outcome::GaveUp(e) => {
                // A target that keeps failing is overloaded or dead; carrying
                // on would only measure the retry loop.
                shared.note_error(e.clone());
                shared.abort(e);
                break;
            }
        }
    }
    Ok(())
}

/// Sends every frame of `spool` to `opts.url`. `alive` is polled during the
/// replay so that a crashed server ends the run instead of a retry storm.
pub fn replay(
    spool: &Spool,
    opts: &SendOptions,
    alive: &mut dyn FnMut() -> bool,
) -> Result<SendStats> {
    let client = reqwest::blocking::Client::builder()
        .timeout(opts.request_timeout)
        .pool_max_idle_per_host(spool.shards.len().max(1))
        .build()
        .context("building HTTP client")?;
    let shared = Shared {
        requests: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        errors: Mutex::new(Vec::new()),
        abort_reason: Mutex::new(None),
    };
    let total = spool.samples();
    let started = Instant::now();

    let shard_errors: Vec<anyhow::Error> = std::thread::scope(|scope| {
        let handles: Vec<_> = spool
            .shards
            .iter()
            .map(|shard| {
                let (client, shared) = (&client, &shared);
                scope.spawn(move || run_shard(client, opts, shared, shard, started))
            })
            .collect();

        let mut last_report = Instant::now();
        let mut last_done = 0u64;
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(50));
            if !alive() {
                shared.abort("server process exited during the load".into());
            }
            if last_report.elapsed() >= opts.progress_every {
                let done = shared.accepted.load(Ordering::Relaxed)
                    + shared.rejected.load(Ordering::Relaxed);
                let rate = (done - last_done) as f64 / last_report.elapsed().as_secs_f64();
                eprintln!(
                    "    {:5.1}%  {done}/{total} samples  {:.0} samples/s",
                    100.0 * done as f64 / total.max(1) as f64,
                    rate
                );
                last_report = Instant::now();
                last_done = done;
            }
        }
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(anyhow::anyhow!("sender thread panicked")),
            })
            .collect()
    });
    if let Some(e) = shard_errors.into_iter().next() {
        return Err(e);
    }

    let accepted = shared.accepted.load(Ordering::Relaxed);
    let rejected = shared.rejected.load(Ordering::Relaxed);
    Ok(SendStats {
        requests: shared.requests.load(Ordering::Relaxed),
        accepted,
        rejected,
        failed: total - accepted - rejected,
        retries: shared.retries.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        errors: shared
            .errors
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        aborted: shared
            .abort_reason
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
    })
}
