//! The simulator a step runs against: on its own runtime inside the bench's process, or
//! as a `barfill sim` child process when the step measures barfill's own CPU and memory
//! (a process's peak RSS cannot leave out the pages a simulator in it builds).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::measure;
use super::workload::Workload;
use crate::sim::Sim;

pub enum Server {
    InProcess(Sim),
    Apart { child: Child, url: String },
}

impl Server {
    pub async fn start(w: &Workload, scratch: &std::path::Path) -> anyhow::Result<Server> {
        if !w.sim_apart {
            return Ok(Server::InProcess(Sim::start_local(w.sim_options()).await?));
        }
        let exe = match &w.sim_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe()?,
        };
        let (args, scratch) = (child_args(w, scratch)?, scratch.to_path_buf());
        tokio::task::spawn_blocking(move || spawn_child(&exe, args, &scratch)).await?
    }

    pub fn base_url(&self) -> String {
        match self {
            Server::InProcess(sim) => sim.base_url(),
            Server::Apart { url, .. } => url.clone(),
        }
    }

    /// CPU seconds the simulator has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        match self {
            Server::InProcess(sim) => sim.cpu_seconds(),
            Server::Apart { child, .. } => measure::pid_cpu_s(child.id()),
        }
    }

    /// Whether the simulator's CPU and memory are outside this process.
    pub fn apart(&self) -> bool {
        matches!(self, Server::Apart { .. })
    }

    /// Range requests the server saw for these tickers (a child keeps its log to itself:
    /// the profiles that run one name no ticker without bars).
    pub fn requests_for(&self, tickers: &HashSet<String>) -> u64 {
        let Server::InProcess(sim) = self else { return 0 };
        let seen = sim.stats.snapshot();
        seen.log.iter().filter(|(path, _)| ticker_of(path).is_some_and(|t| tickers.contains(t))).count() as u64
    }

    pub async fn stop(self) {
        match self {
            Server::InProcess(sim) => sim.stop().await,
            Server::Apart { mut child, .. } => {
                let _ = child.kill();
                let _ = tokio::task::spawn_blocking(move || child.wait()).await;
            }
        }
    }
}

/// The ticker of a range request's path.
fn ticker_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v2/aggs/ticker/").and_then(|r| r.split('/').next())
}

fn child_args(w: &Workload, scratch: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let o = w.sim_options();
    // An empty config file: a user's own `[sim]` table must not change the bench's server.
    let config = scratch.join("sim-config.toml");
    std::fs::create_dir_all(scratch)?;
    std::fs::write(&config, "")?;
    Ok(vec![
        "sim".into(),
        "--config".into(),
        config.display().to_string(),
        "--port".into(),
        "0".into(),
        "--quota".into(),
        o.quota.unwrap_or(u32::MAX).to_string(),
        "--window-secs".into(),
        o.window.as_secs_f64().to_string(),
        "--latency-ms".into(),
        o.latency_ms.to_string(),
        "--latency-per-1k".into(),
        o.latency_ms_per_1k_bars.to_string(),
    ])
}

/// Starts `barfill sim` and reads the address it listens on from its first line.
fn spawn_child(exe: &std::path::Path, args: Vec<String>, scratch: &std::path::Path) -> anyhow::Result<Server> {
    let mut child = Command::new(exe)
        .args(&args)
        .current_dir(scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {} sim: {e}", exe.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_string);
    match url {
        Some(url) => Ok(Server::Apart { child, url }),
        None => {
            let _ = child.kill();
            anyhow::bail!("`barfill sim` did not say where it listens (first line: {line:?})")
        }
    }
}
