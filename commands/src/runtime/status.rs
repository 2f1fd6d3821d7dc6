//! What each supervised process is doing, for `/readyz`, metrics and operators.
//!
//! Supervisors and processes write here; readers take a [`Registry::snapshot`]. Every
//! change of state is logged once, by name and state only (never an event's content).

use crate::store::Position;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Where a process is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Registered, not yet started.
    Starting,
    /// Doing its work.
    Running,
    /// A once-only process whose lease another node holds: that node does the work.
    WaitingForLease,
    /// Failed; the supervisor starts it again after a backoff.
    Restarting { last_error: String },
    /// Stopped on shutdown.
    Stopped,
}

impl ProcessState {
    /// A short name for logs, JSON and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::WaitingForLease => "waiting_for_lease",
            Self::Restarting { .. } => "restarting",
            Self::Stopped => "stopped",
        }
    }

    /// Whether the node is ready as far as this process goes.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Running | Self::WaitingForLease)
    }
}

/// One process's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessStatus {
    pub name: String,
    pub state: ProcessState,
    /// The position its current run started after (its checkpoint), once known.
    pub started_from: Option<Position>,
    /// Every event up to here has been handled (or skipped).
    pub position: Position,
    /// Runs that ended in an error.
    pub failures: u64,
    /// Times the supervisor started it again.
    pub restarts: u64,
    /// Events it gave up on (each recorded as a `ProcessSkippedEvent`).
    pub skipped: u64,
}

impl ProcessStatus {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: ProcessState::Starting,
            started_from: None,
            position: 0,
            failures: 0,
            restarts: 0,
            skipped: 0,
        }
    }

    /// How far behind the log's `head` it is; None for a process that does not report
    /// its position (it never said where it started).
    pub fn lag(&self, head: Position) -> Option<u64> {
        self.started_from.map(|_| head.saturating_sub(self.position))
    }
}

/// The statuses of every process of this node, by name.
#[derive(Clone, Default)]
pub struct Registry(Arc<RwLock<BTreeMap<String, ProcessStatus>>>);

impl Registry {
    /// Registers `name` (or finds it again) and returns the handle its process reports through.
    pub fn register(&self, name: &str) -> StatusHandle {
        let mut all = self.0.write().unwrap_or_else(|p| p.into_inner());
        all.entry(name.to_owned()).or_insert_with(|| ProcessStatus::new(name));
        StatusHandle { registry: self.clone(), name: name.to_owned() }
    }

    /// Every process's status, by name.
    pub fn snapshot(&self) -> Vec<ProcessStatus> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<ProcessStatus> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    fn update<T>(&self, name: &str, f: impl FnOnce(&mut ProcessStatus) -> T) -> T {
        let mut all = self.0.write().unwrap_or_else(|p| p.into_inner());
        f(all.entry(name.to_owned()).or_insert_with(|| ProcessStatus::new(name)))
    }
}

/// A process's own view of its status.
#[derive(Clone)]
pub struct StatusHandle {
    registry: Registry,
    name: String,
}

impl StatusHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves to `state`, logging the change once.
    pub fn set_state(&self, state: ProcessState) {
        let name = &self.name;
        let changed = self.registry.update(name, |s| {
            let changed = s.state.name() != state.name();
            s.state = state.clone();
            changed
        });
        if !changed {
            return;
        }
        match &state {
            ProcessState::Restarting { last_error } => {
                tracing::warn!(process = %name, state = state.name(), error = %last_error, "process state changed")
            }
            _ => tracing::info!(process = %name, state = state.name(), "process state changed"),
        }
    }

    /// The run starts after `position` (its checkpoint).
    pub fn started_from(&self, position: Position) {
        self.registry.update(&self.name, |s| {
            s.started_from = Some(position);
            s.position = position;
        });
        tracing::info!(process = %self.name, position, "process resumes from its checkpoint");
    }

    /// Everything up to `position` is handled.
    pub fn advanced(&self, position: Position) {
        self.registry.update(&self.name, |s| s.position = s.position.max(position));
    }

    pub fn failed(&self) {
        self.registry.update(&self.name, |s| s.failures += 1);
    }

    pub fn restarting(&self) {
        self.registry.update(&self.name, |s| s.restarts += 1);
    }

    pub fn skipped(&self) {
        self.registry.update(&self.name, |s| s.skipped += 1);
    }

    pub fn status(&self) -> ProcessStatus {
        self.registry.update(&self.name, |s| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_reports_into_the_registry_and_lag_is_measured_from_the_head() {
        let registry = Registry::default();
        let worker = registry.register("ai-worker");
        assert_eq!(registry.get("ai-worker").unwrap().state, ProcessState::Starting);
        worker.started_from(10);
        worker.set_state(ProcessState::Running);
        worker.advanced(25);
        worker.advanced(20); // positions never go back
        worker.skipped();
        let s = registry.get("ai-worker").unwrap();
        assert_eq!((s.started_from, s.position, s.skipped, s.lag(40), s.lag(3)), (Some(10), 25, 1, Some(15), Some(0)));
        assert_eq!(registry.register("outbox").status().lag(40), None, "no position reported, no lag");
        assert!(s.state.is_healthy());
    }

    #[test]
    fn restarting_and_stopped_processes_are_not_healthy() {
        assert!(!ProcessState::Restarting { last_error: "x".into() }.is_healthy());
        assert!(!ProcessState::Stopped.is_healthy());
        assert!(!ProcessState::Starting.is_healthy());
        assert!(ProcessState::WaitingForLease.is_healthy());
    }
}
