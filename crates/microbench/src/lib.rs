//! The timing loop of the leaf crates' micro-benchmarks (`benches/*.rs`, `harness = false`).
//!
//! `cargo bench -p tokenbridge-jose` (cargo passes `--bench`) times each operation on one thread
//! and prints operations per second, and, on Linux, the thread's own CPU time per operation with
//! the rate it gives one core (unlike the wall-clock rate, hardly moved by other work on a shared
//! machine). Run any other way (`cargo test --benches`, `--all-targets`) each operation runs
//! once, so the benchmark is compiled and checked but costs no time.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long each operation is timed, after a warm-up of a tenth of it.
const MEASURE: Duration = Duration::from_secs(2);

/// Times named operations of one benchmark.
pub struct Bench {
    measure: bool,
}

impl Bench {
    /// Reads the mode from the command line: timing only under `cargo bench`.
    pub fn from_args() -> Self {
        Self { measure: std::env::args().any(|a| a == "--bench") }
    }

    /// Runs `op` (once, or repeatedly for [`MEASURE`]) and prints its rate.
    pub fn run<T>(&self, name: &str, op: impl FnMut() -> T) {
        self.run_as(name, "ops", op);
    }

    /// [`Self::run`], the rate named in `unit` per second (`verifications/s`).
    pub fn run_as<T>(&self, name: &str, unit: &str, mut op: impl FnMut() -> T) {
        if !self.measure {
            black_box(op());
            println!("{name}: ran once (cargo bench times it)");
            return;
        }
        let warm_up = Instant::now();
        while warm_up.elapsed() < MEASURE / 10 {
            black_box(op());
        }
        let (start, cpu_start, mut ops) = (Instant::now(), thread_cpu_ns(), 0u64);
        while start.elapsed() < MEASURE {
            for _ in 0..8 {
                black_box(op());
            }
            ops += 8;
        }
        let seconds = start.elapsed().as_secs_f64();
        let rate = ops as f64 / seconds;
        let cpu = match (cpu_start, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => {
                let us = (b - a) as f64 / 1e3 / ops as f64;
                format!("  cpu {us:>9.2} µs/op = {:>9.0} {unit}/s per core", 1e6 / us)
            }
            _ => String::new(),
        };
        println!("{name:<48} {rate:>12.0} {unit}/s {:>10.2} µs/op{cpu}", 1e6 / rate);
    }
}

/// CPU time this thread has run, nanoseconds (Linux: /proc/thread-self/schedstat).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}
