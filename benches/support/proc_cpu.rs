//! CPU time of other processes (a server and the processes it forked), from `/proc` (Linux).
//! `/proc/<pid>/stat` counts every thread the process ever had, including those that exited, in
//! clock ticks (`CLK_TCK`, 100 per second on Linux): each reading is at most one tick short.
//! (`#[path]`-included.)

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`: 100 on every Linux
/// architecture this runs on; reading it needs libc, which the bench does not otherwise use).
const TICKS_PER_SEC: u64 = 100;

/// utime + stime of one process (all its threads, live and exited), in nanoseconds.
fn process_cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is index 0, so utime (field 14) is 11 and stime (field 15) is 12.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1_000_000_000 / TICKS_PER_SEC)
}

/// The process `pid` and its descendants (through `/proc/<pid>/task/<tid>/children`).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() && out.len() < 4096 {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for task in tasks.flatten() {
                let path = task.path().join("children");
                if let Ok(text) = std::fs::read_to_string(path) {
                    out.extend(
                        text.split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
        i += 1;
    }
    out
}

/// Total CPU nanoseconds of the processes `roots` and all their descendants, or `None` when a
/// root cannot be read (exited, or no `/proc`).
pub fn tree_cpu_ns(roots: &[u32]) -> Option<u64> {
    let mut total = 0;
    for &root in roots {
        total += process_cpu_ns(root)?;
        for pid in process_tree(root).into_iter().skip(1) {
            // A child that exits between the listing and the read counts as nothing.
            total += process_cpu_ns(pid).unwrap_or(0);
        }
    }
    Some(total)
}

/// CPU nanoseconds this process (the client) has used, all threads.
pub fn own_cpu_ns() -> Option<u64> {
    process_cpu_ns(std::process::id())
}
