//! The timing loop of the leaf crates' micro-benchmarks (`benches/*.rs`, `harness = false`).
//!
//! `cargo bench -p tokenbridge-jose` (cargo passes `--bench`) times each operation and prints
//! operations per second. Run any other way (`cargo test --benches`, `--all-targets`) each
//! operation runs once, so the benchmark is compiled and checked but costs no time.

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
    pub fn run<T>(&self, name: &str, mut op: impl FnMut() -> T) {
        if !self.measure {
            black_box(op());
            println!("{name}: ran once (cargo bench times it)");
            return;
        }
        let warm_up = Instant::now();
        while warm_up.elapsed() < MEASURE / 10 {
            black_box(op());
        }
        let (start, mut ops) = (Instant::now(), 0u64);
        while start.elapsed() < MEASURE {
            for _ in 0..8 {
                black_box(op());
            }
            ops += 8;
        }
        let seconds = start.elapsed().as_secs_f64();
        let rate = ops as f64 / seconds;
        println!("{name:<48} {rate:>12.0} ops/s {:>10.2} µs/op", 1e6 / rate);
    }
}
