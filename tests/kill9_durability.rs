//! `kill -9` in the middle of a write load loses no acknowledged sample: every request
//! answered 204 before the kill is in the database after a restart, bit for bit.

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
const REQUESTS_PER_WRITER: usize = 50;
const SERIES_PER_WRITER: usize = 5;
const SAMPLES_PER_SERIES: usize = 100;
const KILL_AFTER_ACKED: usize = 100;
const T0: i64 = 1_700_000_000_000;

/// A value whose bits depend on every coordinate, so a sample stored under the wrong
/// series or time is caught.
fn value(writer: usize, series: usize, request: usize, k: usize) -> f64 {
    let mut x =
        ((writer as u64) << 48) ^ ((series as u64) << 40) ^ ((request as u64) << 16) ^ (k as u64);
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    // Finite, signed, with a full mantissa.
    (x >> 11) as f64 / (1u64 << 20) as f64 - 4e9
}

fn request_series(writer: usize, request: usize) -> Vec<TestSeries> {
    (0..SERIES_PER_WRITER)
        .map(|s| {
            let samples = (0..SAMPLES_PER_SERIES)
                .map(|k| {
                    let t = T0 + ((request * SAMPLES_PER_SERIES + k) as i64) * 1_000;
                    (t, value(writer, s, request, k))
                })
                .collect();
            TestSeries::new(
                &[
                    ("__name__", "load_test"),
                    ("writer", &writer.to_string()),
                    ("series", &s.to_string()),
                ],
                samples,
            )
        })
        .collect()
}

#[test]
fn kill9_durability() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, None);
    let url = server.url("");

    let acked_count = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, acked, acked_count, killed) = (
                url.clone(),
                acked.clone(),
                acked_count.clone(),
                killed.clone(),
            );
            std::thread::spawn(move || {
                let client = client();
                for r in 0..REQUESTS_PER_WRITER {
                    let body = encode_write(&request_series(w, r));
                    loop {
                        match post_write(&client, &url, body.clone()) {
                            Ok(resp) if resp.status().as_u16() == 204 => {
                                acked.lock().unwrap().push((w, r));
                                acked_count.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            // All write slots busy: the documented answer is to retry.
                            Ok(resp)
                                if resp.status().as_u16() == 429
                                    && !killed.load(Ordering::SeqCst) =>
                            {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            Ok(resp) => {
                                let status = resp.status();
                                let text = resp.text().unwrap_or_default();
                                assert!(
                                    killed.load(Ordering::SeqCst),
                                    "writer {w} request {r}: {status} {text}"
                                );
                                return;
                            }
                            Err(e) => {
                                assert!(
                                    killed.load(Ordering::SeqCst),
                                    "writer {w} request {r} failed before the kill: {e}"
                                );
                                return;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    // Kill from this thread while the writers have requests in flight.
    let deadline = Instant::now() + Duration::from_secs(300);
    while acked_count.load(Ordering::SeqCst) < KILL_AFTER_ACKED {
        assert!(
            Instant::now() < deadline,
            "writes too slow: {} acked",
            acked_count.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    killed.store(true, Ordering::SeqCst);
    server.kill9();
    for w in writers {
        w.join().expect("writer thread");
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "killed with {} of {} requests acknowledged",
        acked.len(),
        WRITERS * REQUESTS_PER_WRITER
    );
    assert!(acked.len() >= KILL_AFTER_ACKED);
    assert!(
        acked.len() < WRITERS * REQUESTS_PER_WRITER,
        "the kill came after every request was acknowledged; the test proved nothing"
    );

    // Restart on the same directory: the WAL replay must bring everything back.
    let server = Server::start(&data, None);
    server.stop();

    let dumped = dump(&data, &["--match", "load_test"]);
    let mut stored: HashMap<(String, i64), &str> = HashMap::with_capacity(dumped.len());
    for d in &dumped {
        let prev = stored.insert((d.series.clone(), d.t), &d.value);
        assert!(prev.is_none(), "sample printed twice: {d:?}");
    }
    let mut checked = 0;
    for &(w, r) in &acked {
        for s in request_series(w, r) {
            let key = s.key();
            for &(t, v) in &s.samples {
                let got = stored.get(&(key.clone(), t)).unwrap_or_else(|| {
                    panic!("acknowledged sample lost: {key} @ {t} (writer {w}, request {r})")
                });
                assert!(
                    value_matches(got, v),
                    "{key} @ {t}: stored {got}, want {v:?}"
                );
                checked += 1;
            }
        }
    }
    // Unacknowledged requests may or may not have landed, but nothing may be corrupted.
    for w in 0..WRITERS {
        for r in 0..REQUESTS_PER_WRITER {
            for s in request_series(w, r) {
                let key = s.key();
                for &(t, v) in &s.samples {
                    if let Some(got) = stored.get(&(key.clone(), t)) {
                        assert!(
                            value_matches(got, v),
                            "{key} @ {t}: stored {got}, want {v:?}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        checked,
        acked.len() * SERIES_PER_WRITER * SAMPLES_PER_SERIES
    );
}
