//! Alternating A/B measurement for benchmarks on a shared machine: A and B run in pairs, in the
//! order A B, B A, A B, … (so that a drift of the machine's load favours neither side), and a
//! comparison is the median and spread of the per-pair ratios, never a ratio of two lone runs.
//! (`#[path]`-included by the load benchmark.)

use std::fmt::Write as _;
use std::future::Future;

/// What one run measured: operations, their wall time, and the CPU time the server threads
/// spent during the run (`None` where the platform cannot say).
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Operations completed in the measured window.
    pub ops: u64,
    /// Wall time of the measured window, in seconds.
    pub secs: f64,
    /// CPU time of the server's threads over the window, in nanoseconds.
    pub server_cpu_ns: Option<u64>,
}

impl Run {
    /// Operations per second of wall time.
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// Wall time per operation, in microseconds.
    pub fn wall_us(&self) -> f64 {
        self.secs * 1e6 / self.ops as f64
    }

    /// Server CPU time per operation, in microseconds.
    pub fn cpu_us(&self) -> Option<f64> {
        self.server_cpu_ns
            .map(|ns| ns as f64 / 1e3 / self.ops as f64)
    }
}

/// Runs `pairs` alternating pairs of `a` and `b` (A B, then B A, …) and returns them as
/// `(a, b)` pairs.
pub async fn alternate<A, FA, B, FB>(pairs: usize, mut a: A, mut b: B) -> Vec<(Run, Run)>
where
    A: FnMut() -> FA,
    FA: Future<Output = Run>,
    B: FnMut() -> FB,
    FB: Future<Output = Run>,
{
    let mut out = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let pair = if i % 2 == 0 {
            let ra = a().await;
            (ra, b().await)
        } else {
            let rb = b().await;
            (a().await, rb)
        };
        out.push(pair);
    }
    out
}

/// Median, quartiles and extremes of a sample.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// First quartile (linear interpolation between order statistics).
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, or `None` when there are none (or one is not a number).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Self {
            median: quantile(&v, 0.5),
            q1: quantile(&v, 0.25),
            q3: quantile(&v, 0.75),
            min: v[0],
            max: v[v.len() - 1],
        })
    }

    /// `median (IQR q1–q3, min–max a–b)` with `precision` decimals.
    pub fn show(&self, precision: usize) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{:.p$} (IQR {:.p$}–{:.p$}, min–max {:.p$}–{:.p$})",
            self.median,
            self.q1,
            self.q3,
            self.min,
            self.max,
            p = precision
        );
        s
    }

    /// `median (min–max a–b)` with `precision` decimals.
    pub fn show_short(&self, precision: usize) -> String {
        format!(
            "{:.p$} (min–max {:.p$}–{:.p$})",
            self.median,
            self.min,
            self.max,
            p = precision
        )
    }
}

/// The `q` quantile of sorted, non-empty `v`, interpolating linearly between order statistics.
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// What a comparison puts in its ratio.
#[derive(Clone, Copy, Debug)]
pub enum Measure {
    /// Operations per second, B over A (higher is better for B).
    Throughput,
    /// Wall time per operation, B over A (lower is better for B).
    TimePerOp,
}

/// A goal on the median of a wall-clock ratio.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    /// The median must be at least this.
    AtLeast(f64),
    /// The median must be below this.
    Below(f64),
}

impl Goal {
    /// ` goal >= 0.9: meets` (or `MISSES`) for `median`.
    fn verdict(self, median: f64) -> String {
        let (op, bound, met) = match self {
            Goal::AtLeast(g) => (">=", g, median >= g),
            Goal::Below(g) => ("<", g, median < g),
        };
        format!(
            " goal {op} {bound}: {}",
            if met { "meets" } else { "MISSES" }
        )
    }
}

/// Prints one alternating comparison: each side's median and spread (throughput or time, and
/// server CPU per operation), then the per-pair ratios B / A of the wall-clock measure and of
/// the server CPU per operation, each as median, IQR and min–max; `goal` applies to the median
/// of the wall-clock ratio.
pub fn report(
    name: &str,
    labels: (&str, &str),
    unit: &str,
    measure: Measure,
    pairs: &[(Run, Run)],
    goal: Option<Goal>,
) {
    let side = |label: &str, pick: fn(&(Run, Run)) -> Run| {
        let runs: Vec<Run> = pairs.iter().map(pick).collect();
        let wall = match measure {
            Measure::Throughput => Spread::of(runs.iter().map(Run::per_sec))
                .map(|s| format!("{} {unit}/s", s.show_short(0))),
            Measure::TimePerOp => Spread::of(runs.iter().map(Run::wall_us))
                .map(|s| format!("{} µs/{unit}", s.show_short(1))),
        };
        let cpu = Spread::of(runs.iter().filter_map(Run::cpu_us))
            .map(|s| format!("server CPU {} µs/{unit}", s.show_short(1)))
            .unwrap_or_else(|| "server CPU not measured".into());
        println!(
            "{name}/{label:<14} {} | {cpu}",
            wall.unwrap_or_else(|| "not measured".into())
        );
    };
    side(labels.0, |p| p.0);
    side(labels.1, |p| p.1);

    let n = pairs.len();
    let (what, ratios): (&str, Vec<f64>) = match measure {
        Measure::Throughput => (
            "throughput",
            pairs
                .iter()
                .map(|(a, b)| b.per_sec() / a.per_sec())
                .collect(),
        ),
        Measure::TimePerOp => (
            "wall time per op",
            pairs
                .iter()
                .map(|(a, b)| b.wall_us() / a.wall_us())
                .collect(),
        ),
    };
    match Spread::of(ratios) {
        Some(s) => {
            let verdict = goal.map_or_else(String::new, |g| g.verdict(s.median));
            println!(
                "ratio {name}: {} / {} {what} = {} over {n} alternating pairs;{verdict}",
                labels.1,
                labels.0,
                s.show(3)
            );
        }
        None => println!("ratio {name}: not measured"),
    }
    let cpu = pairs.iter().map(|(a, b)| match (a.cpu_us(), b.cpu_us()) {
        (Some(a), Some(b)) if a > 0.0 => b / a,
        _ => f64::NAN,
    });
    match Spread::of(cpu) {
        Some(s) => println!(
            "ratio {name}/cpu: {} / {} server CPU per {unit} = {} over {n} alternating pairs",
            labels.1,
            labels.0,
            s.show(3)
        ),
        None => println!("ratio {name}/cpu: not measured"),
    }
}
