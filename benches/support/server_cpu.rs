//! A tokio runtime for the benchmarked servers whose threads' CPU time can be read: every
//! thread it starts (workers and blocking threads) registers itself, and a thread that stops
//! hands in its final CPU time, so the sum covers exactly the server side of a loopback run.
//! CPU time is read from `/proc/self/task/<tid>/schedstat` (the scheduler's nanosecond
//! `sum_exec_runtime`, Linux); elsewhere it is not measured. (`#[path]`-included.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The server threads: live thread ids, and the CPU time of the threads that have stopped.
#[derive(Default)]
struct Threads {
    live: Mutex<Vec<u64>>,
    stopped_ns: AtomicU64,
    unreadable: AtomicU64,
}

/// A server runtime and the CPU accounting of its threads.
pub struct ServerRuntime {
    runtime: tokio::runtime::Runtime,
    threads: Arc<Threads>,
}

/// The calling thread's id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn own_tid() -> Option<u64> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Nanoseconds thread `tid` of this process has spent on a CPU.
fn thread_cpu_ns(tid: u64) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

impl ServerRuntime {
    /// A multi-threaded runtime with `workers` worker threads, all of them accounted.
    pub fn new(workers: usize) -> std::io::Result<Self> {
        let threads = Arc::new(Threads::default());
        let (start, stop) = (threads.clone(), threads.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("bench-server")
            .enable_all()
            .on_thread_start(move || match own_tid() {
                Some(tid) => start
                    .live
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(tid),
                None => {
                    start.unreadable.fetch_add(1, Ordering::Relaxed);
                }
            })
            .on_thread_stop(move || {
                let Some(tid) = own_tid() else { return };
                let mut live = stop.live.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(ns) = thread_cpu_ns(tid) {
                    stop.stopped_ns.fetch_add(ns, Ordering::Relaxed);
                }
                live.retain(|t| *t != tid);
            })
            .build()?;
        Ok(Self { runtime, threads })
    }

    /// The runtime's handle, to spawn servers on it.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// Total CPU nanoseconds the server threads have used so far, or `None` when a thread's
    /// time cannot be read (not Linux, `/proc` not mounted).
    pub fn cpu_ns(&self) -> Option<u64> {
        if self.threads.unreadable.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let live = self.threads.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = self.threads.stopped_ns.load(Ordering::Relaxed);
        for tid in live.iter() {
            total += thread_cpu_ns(*tid)?;
        }
        Some(total)
    }
}
