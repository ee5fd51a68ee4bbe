//! A large scrape body in the Prometheus text format 0.0.4, shaped like what big
//! targets expose: node-exporter style host metrics, kube-state-metrics style pod
//! metrics with many labels, and API-server style latency histograms.
//!
//! The series are fixed once (their text up to the value is rendered up front); each
//! scrape renders fresh values, so counters rise and gauges move between scrapes as
//! on a real target and storage sees realistic deltas, not repeats.

use std::fmt::Write as _;

use crate::rng::Rng;

/// How a series' value evolves from one scrape to the next.
#[derive(Clone, Copy)]
enum Value {
    /// `base + rate * n` with two decimals (CPU seconds, bytes with fractions).
    Counter { base: f64, rate: f64 },
    /// Whole-number counter.
    IntCounter { base: u64, rate: u64 },
    /// Gauge wandering around `mid`, three decimals.
    Gauge { mid: f64, amp: f64, phase: f64 },
    /// A value that never changes (info metrics, phase flags, sizes).
    Constant(f64),
}

enum Piece {
    /// `# HELP` / `# TYPE` lines of a family, newline included.
    Header(String),
    /// The series text up to and including the space before the value.
    Sample(String, Value),
}

/// The fixed series of the body and the renderer of its values.
pub struct Body {
    pieces: Vec<Piece>,
    series: usize,
}

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const MEM_FIELDS: [&str; 10] = [
    "MemTotal_bytes",
    "MemFree_bytes",
    "MemAvailable_bytes",
    "Buffers_bytes",
    "Cached_bytes",
    "SwapTotal_bytes",
    "SwapFree_bytes",
    "Active_bytes",
    "Inactive_bytes",
    "Dirty_bytes",
];
const MOUNTS: [(&str, &str, &str); 4] = [
    ("/dev/nvme0n1p1", "ext4", "/"),
    ("/dev/nvme1n1", "xfs", "/var/lib/kubelet"),
    ("tmpfs", "tmpfs", "/run"),
    ("overlay", "overlay", "/var/lib/containerd"),
];
const NET_DEVICES: [&str; 3] = ["eth0", "cni0", "lo"];
const DISKS: [&str; 2] = ["nvme0n1", "nvme1n1"];
const NAMESPACES: [&str; 6] = [
    "default",
    "kube-system",
    "monitoring",
    "payments",
    "checkout",
    "search",
];
const APPS: [&str; 8] = [
    "api-gateway",
    "checkout-service",
    "payment-worker",
    "search-indexer",
    "redis-cache",
    "node-local-dns",
    "fluent-bit",
    "cart-frontend",
];
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];
const VERBS: [&str; 4] = ["GET", "LIST", "PATCH", "WATCH"];
const RESOURCES: [&str; 6] = [
    "pods",
    "nodes",
    "configmaps",
    "endpoints",
    "leases",
    "deployments",
];
/// client_golang's default buckets plus +Inf: the usual classic histogram.
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
const PODS_PER_NODE: usize = 20;
const CONTAINERS: [&str; 2] = ["app", "istio-proxy"];

struct Node {
    name: String,
    ip: String,
}

struct Pod {
    namespace: &'static str,
    name: String,
    uid: String,
    ip: String,
    node: usize,
    app: &'static str,
}

/// Series per block of one node and its pods (node metrics, pod metrics, and the
/// two API-server histograms assigned to the block).
pub const SERIES_PER_BLOCK: usize = 8 * 8 // cpu
    + 10 // memory
    + 3 * 4 // filesystem
    + 2 * 3 // network
    + 2 * 2 // disk
    + 3 // load
    + PODS_PER_NODE * (1 + 2 + 2 * 2 + 2 + 5) // pod info, restarts, requests, running, phase
    + 2 * (BUCKETS.len() + 2); // histograms

impl Body {
    /// Exactly `series` series (at least one block's worth of families is always
    /// declared; the last family, `kube_pod_status_phase`, is cut to fit).
    pub fn new(series: usize, seed: u64) -> Body {
        let blocks = series.div_ceil(SERIES_PER_BLOCK).max(1);
        let mut rng = Rng::derive(seed, 0x5c7a);
        let nodes: Vec<Node> = (0..blocks)
            .map(|i| Node {
                name: format!(
                    "ip-10-{}-{}-{}.ec2.internal",
                    16 + i / 65536,
                    (i / 256) % 256,
                    i % 256
                ),
                ip: format!("10.{}.{}.{}", 16 + i / 65536, (i / 256) % 256, i % 256),
            })
            .collect();
        let mut pods = Vec::with_capacity(blocks * PODS_PER_NODE);
        for n in 0..blocks {
            for p in 0..PODS_PER_NODE {
                let app = APPS[(n + p) % APPS.len()];
                let hash = rng.next_u64();
                pods.push(Pod {
                    namespace: NAMESPACES[(n * 7 + p) % NAMESPACES.len()],
                    name: format!("{app}-{:08x}-{:05x}", hash as u32, (hash >> 40) & 0xfffff),
                    uid: format!(
                        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                        rng.next_u64() as u32,
                        rng.next_u64() & 0xffff,
                        rng.next_u64() & 0xfff,
                        rng.next_u64() & 0xfff,
                        rng.next_u64() & 0xffff_ffff_ffff
                    ),
                    ip: format!("100.{}.{}.{}", 64 + n % 64, p, (n / 64) % 256),
                    node: n,
                    app,
                });
            }
        }

        let mut b = Builder {
            pieces: Vec::new(),
            series: 0,
            limit: series,
            rng,
        };
        b.family(
            "node_cpu_seconds_total",
            "counter",
            "Seconds the CPUs spent in each mode.",
        );
        for n in &nodes {
            for cpu in 0..8 {
                for mode in CPU_MODES {
                    let rate = if mode == "idle" { 0.8 } else { 0.02 };
                    let v = b.counter(rate);
                    b.sample(
                        format!(
                            "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\",node=\"{}\"}}",
                            n.name
                        ),
                        v,
                    );
                }
            }
        }
        for field in MEM_FIELDS {
            let name = format!("node_memory_{field}");
            b.family(&name, "gauge", "Memory information field.");
            for n in &nodes {
                let v = b.gauge(8e9, 1e8);
                b.sample(format!("{name}{{node=\"{}\"}}", n.name), v);
            }
        }
        for what in ["avail", "free", "size"] {
            let name = format!("node_filesystem_{what}_bytes");
            b.family(&name, "gauge", "Filesystem space in bytes.");
            for n in &nodes {
                for (device, fstype, mountpoint) in MOUNTS {
                    let v = if what == "size" {
                        Value::Constant(1.073741824e11)
                    } else {
                        b.gauge(5e10, 1e7)
                    };
                    b.sample(
                        format!(
                            "{name}{{device=\"{device}\",fstype=\"{fstype}\",mountpoint=\"{mountpoint}\",node=\"{}\"}}",
                            n.name
                        ),
                        v,
                    );
                }
            }
        }
        for dir in ["receive", "transmit"] {
            let name = format!("node_network_{dir}_bytes_total");
            b.family(&name, "counter", "Network device statistic.");
            for n in &nodes {
                for device in NET_DEVICES {
                    let v = b.int_counter(200_000);
                    b.sample(
                        format!("{name}{{device=\"{device}\",node=\"{}\"}}", n.name),
                        v,
                    );
                }
            }
        }
        for what in ["reads", "writes"] {
            let name = format!("node_disk_{what}_completed_total");
            b.family(
                &name,
                "counter",
                "The total number of I/Os completed successfully.",
            );
            for n in &nodes {
                for device in DISKS {
                    let v = b.int_counter(300);
                    b.sample(
                        format!("{name}{{device=\"{device}\",node=\"{}\"}}", n.name),
                        v,
                    );
                }
            }
        }
        for w in ["1", "5", "15"] {
            let name = format!("node_load{w}");
            b.family(&name, "gauge", "Load average.");
            for n in &nodes {
                let v = b.gauge(2.0, 1.5);
                b.sample(format!("{name}{{node=\"{}\"}}", n.name), v);
            }
        }

        b.family("kube_pod_info", "gauge", "Information about pod.");
        for p in &pods {
            let n = &nodes[p.node];
            b.sample(
                format!(
                    "kube_pod_info{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",host_ip=\"{}\",pod_ip=\"{}\",node=\"{}\",created_by_kind=\"ReplicaSet\",created_by_name=\"{}-{:x}\",priority_class=\"\",host_network=\"false\"}}",
                    p.namespace, p.name, p.uid, n.ip, p.ip, n.name, p.app, p.node % 4096
                ),
                Value::Constant(1.0),
            );
        }
        b.family(
            "kube_pod_container_status_restarts_total",
            "counter",
            "The number of container restarts per container.",
        );
        for p in &pods {
            for c in CONTAINERS {
                let v = Value::IntCounter {
                    base: below(&mut b.rng, 5),
                    rate: 0,
                };
                b.sample(
                    format!(
                        "kube_pod_container_status_restarts_total{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{c}\"}}",
                        p.namespace, p.name, p.uid
                    ),
                    v,
                );
            }
        }
        b.family(
            "kube_pod_container_resource_requests",
            "gauge",
            "The number of requested request resource by a container.",
        );
        for p in &pods {
            let n = &nodes[p.node];
            for c in CONTAINERS {
                for (resource, unit, v) in [("cpu", "core", 0.25), ("memory", "byte", 268435456.0)]
                {
                    b.sample(
                        format!(
                            "kube_pod_container_resource_requests{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{c}\",node=\"{}\",resource=\"{resource}\",unit=\"{unit}\"}}",
                            p.namespace, p.name, p.uid, n.name
                        ),
                        Value::Constant(v),
                    );
                }
            }
        }
        b.family(
            "kube_pod_container_status_running",
            "gauge",
            "Describes whether the container is currently in running state.",
        );
        for p in &pods {
            for c in CONTAINERS {
                b.sample(
                    format!(
                        "kube_pod_container_status_running{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",container=\"{c}\"}}",
                        p.namespace, p.name, p.uid
                    ),
                    Value::Constant(1.0),
                );
            }
        }
        b.family(
            "apiserver_request_duration_seconds",
            "histogram",
            "Response latency distribution in seconds for each verb and resource.",
        );
        for (i, n) in nodes.iter().enumerate() {
            for h in 0..2 {
                let verb = VERBS[(i + h) % VERBS.len()];
                let resource = RESOURCES[(i * 2 + h) % RESOURCES.len()];
                let labels = format!(
                    "component=\"apiserver\",instance_node=\"{}\",resource=\"{resource}\",scope=\"cluster\",verb=\"{verb}\"",
                    n.name
                );
                let total = 50 + below(&mut b.rng, 500);
                let mut cumulative = 0;
                for (k, le) in BUCKETS.iter().enumerate() {
                    // Roughly log-normal: most requests land in the middle buckets.
                    let share = match k {
                        0..=2 => 2,
                        3..=6 => 20,
                        7..=9 => 5,
                        _ => 1,
                    };
                    cumulative = (cumulative + total * share / 100).min(total);
                    if *le == "+Inf" {
                        cumulative = total;
                    }
                    b.sample(
                        format!(
                            "apiserver_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}"
                        ),
                        Value::IntCounter {
                            base: cumulative * 1000,
                            rate: cumulative,
                        },
                    );
                }
                b.sample(
                    format!("apiserver_request_duration_seconds_sum{{{labels}}}"),
                    Value::Counter {
                        base: total as f64 * 80.0,
                        rate: total as f64 * 0.08,
                    },
                );
                b.sample(
                    format!("apiserver_request_duration_seconds_count{{{labels}}}"),
                    Value::IntCounter {
                        base: total * 1000,
                        rate: total,
                    },
                );
            }
        }
        b.family("kube_pod_status_phase", "gauge", "The pods current phase.");
        for p in &pods {
            for phase in PHASES {
                let v = if phase == "Running" { 1.0 } else { 0.0 };
                b.sample(
                    format!(
                        "kube_pod_status_phase{{namespace=\"{}\",pod=\"{}\",uid=\"{}\",phase=\"{phase}\"}}",
                        p.namespace, p.name, p.uid
                    ),
                    Value::Constant(v),
                );
            }
        }
        Body {
            series: b.series,
            pieces: b.pieces,
        }
    }

    pub fn series(&self) -> usize {
        self.series
    }

    /// The body of scrape number `n` (0, 1, 2, ...).
    pub fn render(&self, n: u64) -> String {
        let mut out = String::with_capacity(self.series * 160);
        let nf = n as f64;
        for p in &self.pieces {
            match p {
                Piece::Header(h) => out.push_str(h),
                Piece::Sample(prefix, v) => {
                    out.push_str(prefix);
                    let _ = match *v {
                        Value::Counter { base, rate } => write!(out, "{:.2}", base + rate * nf),
                        Value::IntCounter { base, rate } => write!(out, "{}", base + rate * n),
                        Value::Gauge { mid, amp, phase } => {
                            write!(out, "{:.3}", mid + amp * (phase + nf * 0.1).sin())
                        }
                        Value::Constant(c) => write!(out, "{c}"),
                    };
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn below(r: &mut Rng, n: u64) -> u64 {
    r.next_u64() % n.max(1)
}

struct Builder {
    pieces: Vec<Piece>,
    series: usize,
    limit: usize,
    rng: Rng,
}

impl Builder {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        if self.series < self.limit {
            self.pieces.push(Piece::Header(format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n"
            )));
        }
    }

    fn sample(&mut self, mut text: String, v: Value) {
        if self.series >= self.limit {
            return;
        }
        text.push(' ');
        self.pieces.push(Piece::Sample(text, v));
        self.series += 1;
    }

    fn counter(&mut self, rate: f64) -> Value {
        Value::Counter {
            base: below(&mut self.rng, 10_000_000) as f64 / 100.0,
            rate,
        }
    }

    fn int_counter(&mut self, rate: u64) -> Value {
        Value::IntCounter {
            base: below(&mut self.rng, 1 << 40),
            rate: rate / 2 + below(&mut self.rng, rate.max(1)),
        }
    }

    fn gauge(&mut self, mid: f64, amp: f64) -> Value {
        Value::Gauge {
            mid,
            amp,
            phase: below(&mut self.rng, 628) as f64 / 100.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_ingest::exposition::{Entry, Format, Parser};

    #[test]
    fn exact_series_count_and_valid_text() {
        for n in [1, 500, SERIES_PER_BLOCK, SERIES_PER_BLOCK + 1, 10_000] {
            let body = Body::new(n, 7);
            assert_eq!(body.series(), n);
            for scrape in [0, 3] {
                let text = body.render(scrape);
                let mut samples = 0;
                let mut seen = std::collections::HashSet::new();
                for e in Parser::new(text.as_bytes(), Format::PrometheusText) {
                    if let Entry::Sample(s) = e.expect("valid text format") {
                        samples += 1;
                        assert!(seen.insert(s.series.to_string()), "duplicate {}", s.series);
                    }
                }
                assert_eq!(samples, n);
            }
        }
    }

    #[test]
    fn counters_rise_between_scrapes() {
        let body = Body::new(1000, 1);
        let first = body.render(0);
        let second = body.render(1);
        let value = |text: &str, prefix: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let p = "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"";
        assert!(value(&second, p) > value(&first, p));
    }
}
