//! The loop of the in-process benches (`policy`, `sigv4`, `verify`, `argon2`): one call made
//! over and over on N threads for a bounded time, with the CPU time this process used and the
//! cores other processes used meanwhile (a busy machine lowers the figures).

use super::round;
use super::{machine_busy, process_cpu};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One measurement: calls over all threads, and the CPU around them.
pub struct Measured {
    pub per_second: f64,
    pub calls: u64,
    /// Seconds, from the start to the last thread's end.
    pub elapsed: f64,
    /// CPU seconds this process used.
    pub cpu_seconds: Option<f64>,
    /// Cores used by other processes meanwhile.
    pub other_cores: Option<f64>,
}

impl Measured {
    /// CPU time this process used per call, microseconds.
    pub fn cpu_us_per_call(&self) -> Option<f64> {
        self.cpu_seconds.filter(|_| self.calls > 0).map(|o| o * 1e6 / self.calls as f64)
    }

    /// The JSON line of a measurement on `threads` threads: the figures `policy` and `sigv4`
    /// both report, named and rounded alike (bench/identity.sh reads them the same way), and the
    /// bench's own `fields`.
    pub fn json_line(&self, threads: usize, fields: Value) -> Value {
        let mut line = json!({
            "threads": threads, "seconds": round(self.elapsed, 2), "calls": self.calls,
            "per_second": round(self.per_second, 0),
            "per_second_per_thread": round(self.per_second / threads as f64, 0),
            "cpu_us_per_call": self.cpu_us_per_call().map(|v| round(v, 3)),
            "other_cores": self.other_cores.map(|v| round(v, 2)),
        });
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
            line.extend(fields);
        }
        line
    }

    /// `other_cores` for a text line (`n/a` where /proc could not tell).
    pub fn other_cores_text(&self) -> String {
        self.other_cores.map_or("n/a".into(), |v| format!("{v:.2}"))
    }
}

/// Calls `f` in a loop on `threads` threads for `length`, looking at the clock every `batch`
/// calls (a fast call would otherwise be measured with the clock); fails if a call returned false.
pub fn measure(threads: usize, length: Duration, batch: u64, f: impl Fn() -> bool + Sync) -> Result<Measured> {
    let before = (process_cpu("self"), machine_busy());
    let started = Instant::now();
    let results: Vec<(u64, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (mut n, mut ok) = (0u64, true);
                    while started.elapsed() < length {
                        for _ in 0..batch {
                            ok &= f();
                        }
                        n += batch;
                    }
                    (n, ok)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    if results.iter().any(|(_, ok)| !ok) {
        bail!("a call failed during the measurement");
    }
    let calls: u64 = results.iter().map(|(n, _)| n).sum();
    let elapsed = started.elapsed().as_secs_f64();
    let after = (process_cpu("self"), machine_busy());
    let own = match (before.0, after.0) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let other = match (before.1, after.1, own) {
        (Some(m0), Some(m1), Some(o)) => Some(((m1 - m0) - o).max(0.0) / elapsed),
        _ => None,
    };
    Ok(Measured { per_second: calls as f64 / elapsed, calls, elapsed, cpu_seconds: own, other_cores: other })
}
