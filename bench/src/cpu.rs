//! CPU accounting from /proc (Linux; absent elsewhere).

use std::collections::BTreeMap;

/// utime + stime of a process, seconds (USER_HZ is 100 on Linux).
pub(crate) fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state(0) … utime(11) stime(12).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds of each thread of a process, keyed by thread id, with the thread's name.
pub(crate) fn thread_cpu(pid: u32) -> BTreeMap<String, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default().trim().to_string();
        if let Some(cpu) = process_cpu(&format!("{pid}/task/{tid}")) {
            out.insert(tid, (name, cpu));
        }
    }
    out
}

/// Per thread name: (threads, CPU seconds in total, CPU seconds of the busiest one), between two
/// [`thread_cpu`] snapshots.
pub(crate) fn thread_groups(
    before: &BTreeMap<String, (String, f64)>,
    after: &BTreeMap<String, (String, f64)>,
) -> BTreeMap<String, (usize, f64, f64)> {
    let mut groups: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for (tid, (name, cpu)) in after {
        let used = cpu - before.get(tid).map_or(0.0, |b| b.1);
        let g = groups.entry(name.clone()).or_default();
        g.0 += 1;
        g.1 += used;
        g.2 = g.2.max(used);
    }
    groups
}

/// Busy CPU time of the whole machine, seconds (all cores).
pub(crate) fn machine_busy() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal …
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).copied().unwrap_or(0.0);
    Some(busy / 100.0)
}
