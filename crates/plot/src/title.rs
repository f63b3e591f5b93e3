//! What a chart says about the experiment behind it.

use engine::Summary;

/// The setup a chart shows under its title, so a figure cut out of its context still
/// says what produced it: the workload (and its seed), the allocators, the cost model.
///
/// ```
/// let title = plot::ChartTitle::new("churn")
///     .seed(42)
///     .allocators(["glibc", "first-fit"])
///     .cost_model("default");
/// assert_eq!(
///     title.setup_line(&[]),
///     "workload churn (seed 42) · allocators glibc, first-fit · cost model default"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartTitle {
    /// Workload or trace name.
    pub workload: String,
    /// The generator's seed (none for traces and real runs).
    pub seed: Option<u64>,
    /// Allocator names. When empty, charts list the allocators of their data.
    pub allocators: Vec<String>,
    /// The cost model's name (`default`, `calibrated`, a file name...); empty to leave
    /// it out (real runs have none).
    pub cost_model: String,
    /// Anything else the reader must know (a kernel option, the sampling interval).
    pub note: Option<String>,
}

impl ChartTitle {
    /// A title for `workload`, with nothing else set.
    pub fn new(workload: impl Into<String>) -> ChartTitle {
        ChartTitle {
            workload: workload.into(),
            ..ChartTitle::default()
        }
    }

    /// The title of a comparison of `summaries` (workload, seed and allocators taken
    /// from them, in their order) under cost model `cost_model`.
    pub fn from_summaries(summaries: &[Summary], cost_model: impl Into<String>) -> ChartTitle {
        let first = summaries.first();
        let mut workloads: Vec<&str> = Vec::new();
        for s in summaries {
            if !workloads.contains(&s.workload.as_str()) {
                workloads.push(&s.workload);
            }
        }
        ChartTitle {
            workload: workloads.join(", "),
            seed: first.and_then(|s| s.seed),
            allocators: summaries.iter().map(|s| s.allocator.clone()).collect(),
            cost_model: cost_model.into(),
            note: None,
        }
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> ChartTitle {
        self.seed = Some(seed);
        self
    }

    /// Sets the allocator names.
    pub fn allocators<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> ChartTitle {
        self.allocators = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the cost model's name.
    pub fn cost_model(mut self, name: impl Into<String>) -> ChartTitle {
        self.cost_model = name.into();
        self
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> ChartTitle {
        self.note = Some(note.into());
        self
    }

    /// The line under a chart's title: `workload W (seed S) · allocators A, B · cost
    /// model M · note`. `fallback_allocators` is listed when [`ChartTitle::allocators`]
    /// is empty.
    pub fn setup_line(&self, fallback_allocators: &[&str]) -> String {
        let mut parts = Vec::new();
        if !self.workload.is_empty() {
            match self.seed {
                Some(seed) => parts.push(format!("workload {} (seed {seed})", self.workload)),
                None => parts.push(format!("workload {}", self.workload)),
            }
        }
        let names: Vec<&str> = if self.allocators.is_empty() {
            fallback_allocators.to_vec()
        } else {
            self.allocators.iter().map(String::as_str).collect()
        };
        match names.len() {
            0 => {}
            1 => parts.push(format!("allocator {}", names[0])),
            _ => parts.push(format!("allocators {}", names.join(", "))),
        }
        if !self.cost_model.is_empty() {
            parts.push(format!("cost model {}", self.cost_model));
        }
        if let Some(note) = &self.note {
            parts.push(note.clone());
        }
        parts.join(" · ")
    }
}
