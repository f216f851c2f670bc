//! The figures of a measured closed-loop phase that `exchange` (main.rs), `cognito`, `graphql`
//! and `identity` all report, computed and worded once so that their results stay comparable:
//! the latency percentiles, the CPU used by the server, the generator and everything else (and
//! the server's threads by name), and how the summary and the JSON line are printed.

use super::{machine_busy, percentile, process_cpu, round, thread_cpu, thread_groups};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Latency of the successful requests, milliseconds.
pub struct Latency {
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Latency {
    /// Of `latencies_us` (microseconds), which this sorts.
    pub fn of(latencies_us: &mut [u64]) -> Self {
        latencies_us.sort_unstable();
        let lat = &*latencies_us;
        Latency {
            mean: if lat.is_empty() { 0.0 } else { lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0 },
            p50: percentile(lat, 50.0),
            p90: percentile(lat, 90.0),
            p99: percentile(lat, 99.0),
            p999: percentile(lat, 99.9),
            max: lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        }
    }

    /// `latency_ms` of the JSON results.
    pub fn json(&self) -> Value {
        json!({
            "mean": round(self.mean, 3), "p50": round(self.p50, 3), "p90": round(self.p90, 3),
            "p99": round(self.p99, 3), "p999": round(self.p999, 3), "max": round(self.max, 3),
        })
    }

    /// The summary's latency line; `note` closes its parenthesis (what was timed).
    pub fn line(&self, note: &str) -> String {
        let Latency { mean, p50, p90, p99, p999, max } = self;
        format!(
            "  latency ms      p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  p99.9 {p999:.2}  max {max:.2}  (mean {mean:.2}, {note})\n"
        )
    }
}

/// CPU time so far (seconds): of this process, of the server and of the whole machine.
struct CpuTimes {
    generator: Option<f64>,
    server: Option<f64>,
    machine: Option<f64>,
}

impl CpuTimes {
    fn now(server_pid: Option<u32>) -> Self {
        CpuTimes {
            generator: process_cpu("self"),
            server: server_pid.and_then(|p| process_cpu(&p.to_string())),
            machine: machine_busy(),
        }
    }
}

/// The CPU readings taken when a measured phase starts (the server's threads first, so that
/// reading them falls outside the phase).
pub struct CpuWatch {
    server_pid: Option<u32>,
    threads: BTreeMap<String, (String, f64)>,
    start: CpuTimes,
}

impl CpuWatch {
    pub fn start(server_pid: Option<u32>) -> Self {
        let threads = server_pid.map(thread_cpu).unwrap_or_default();
        CpuWatch { server_pid, threads, start: CpuTimes::now(server_pid) }
    }

    /// What was used since `start` (the server's threads last, outside the phase too).
    pub fn stop(self) -> CpuUsage {
        let end = CpuTimes::now(self.server_pid);
        let threads_after = self.server_pid.map(thread_cpu).unwrap_or_default();
        let delta = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        let generator = delta(self.start.generator, end.generator);
        let server = delta(self.start.server, end.server);
        let machine = delta(self.start.machine, end.machine);
        // Whatever else ran meanwhile (another process on the machine makes the figures noisy).
        let other = match (machine, generator) {
            (Some(m), Some(g)) => Some((m - g - server.unwrap_or(0.0)).max(0.0)),
            _ => None,
        };
        CpuUsage { generator, server, machine, other, threads: thread_groups(&self.threads, &threads_after) }
    }
}

/// CPU seconds used during a phase.
pub struct CpuUsage {
    pub generator: Option<f64>,
    pub server: Option<f64>,
    pub machine: Option<f64>,
    pub other: Option<f64>,
    /// The server's threads by name: (threads, CPU seconds in all, of the busiest one).
    threads: BTreeMap<String, (usize, f64, f64)>,
}

impl CpuUsage {
    /// `cpu_cores` of the JSON results: cores used over the phase's `secs`.
    pub fn cores_json(&self, secs: f64) -> Value {
        let cores = |x: Option<f64>| x.map(|v| round(v / secs, 2));
        json!({
            "server": cores(self.server), "generator": cores(self.generator), "other": cores(self.other),
            "machine": cores(self.machine),
        })
    }

    /// The summary's line of cores used.
    pub fn cores_line(&self, secs: f64) -> String {
        let fmt = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{:.2}", v / secs));
        format!(
            "  cpu (cores)     server {}  generator {}  everything else {}  (machine busy {} of {} cores)\n",
            fmt(self.server),
            fmt(self.generator),
            fmt(self.other),
            fmt(self.machine),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        )
    }

    /// `server_threads` of the JSON results.
    pub fn threads_json(&self, secs: f64) -> Map<String, Value> {
        self.threads
            .iter()
            .map(|(name, (n, total, busiest))| {
                (
                    name.clone(),
                    json!({ "threads": n, "cores": round(total / secs, 2), "busiest": round(busiest / secs, 2) }),
                )
            })
            .collect()
    }

    /// The summary's line of the server's busy threads (none without `--server-pid`).
    pub fn threads_line(&self, secs: f64) -> String {
        if self.threads.is_empty() {
            return String::new();
        }
        let list: Vec<String> = self
            .threads
            .iter()
            .filter(|(_, (_, total, _))| *total / secs >= 0.005)
            .map(|(name, (n, total, busiest))| {
                format!("{name} ×{n} {:.2} (busiest {:.2})", total / secs, busiest / secs)
            })
            .collect();
        format!("  server threads  {}\n", list.join(", "))
    }
}

/// The text summary on stdout; with `--json`, the summary on stderr and the JSON line on stdout.
pub fn print(summary: &str, results: &Value, json: bool) {
    if json {
        eprint!("{summary}");
        println!("{results}");
    } else {
        print!("{summary}");
    }
}
