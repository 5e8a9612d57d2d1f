//! CPU and memory of this process, checked against the original success criteria.

use std::time::Instant;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

pub struct ResourceProbe {
    sys: System,
    pid: Pid,
    started: Instant,
    cpu_ms_at_start: u64,
}

impl ResourceProbe {
    pub fn new() -> Option<ResourceProbe> {
        let pid = sysinfo::get_current_pid().ok()?;
        let sys = System::new().ok()?;
        let mut probe = ResourceProbe { sys, pid, started: Instant::now(), cpu_ms_at_start: 0 };
        probe.refresh();
        probe.cpu_ms_at_start = probe.sys.process(pid).map(|p| p.accumulated_cpu_time()).unwrap_or(0);
        Some(probe)
    }

    fn refresh(&mut self) {
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
    }

    /// CPU in percent of one core since the last sample, and resident memory in MB.
    pub fn sample(&mut self) -> (f64, f64) {
        self.refresh();
        match self.sys.process(self.pid) {
            Some(p) => (p.cpu_usage() as f64, p.memory() as f64 / 1_048_576.0),
            None => (0.0, 0.0),
        }
    }

    /// CPU over the probe's life, in percent of one core.
    pub fn average_cpu_pct(&mut self) -> f64 {
        self.refresh();
        let used = self.sys.process(self.pid).map(|p| p.accumulated_cpu_time()).unwrap_or(0);
        let wall_ms = self.started.elapsed().as_millis().max(1) as f64;
        used.saturating_sub(self.cpu_ms_at_start) as f64 / wall_ms * 100.0
    }
}

/// The process's peak resident memory in MB (Linux `VmHWM`); 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
