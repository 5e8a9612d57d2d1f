//! Where a run's requests go: the embedded simulator when no key and no URL are
//! configured, else the configured server. A decision of the command line, not the engine.

use crate::config::{Config, DEFAULT_BASE_URL};
use crate::engine::{EMBEDDED_SIMULATOR, Source};
use crate::sim::Sim;

/// Starts the embedded simulator when the configuration has no key and no URL.
pub async fn resolve(config: &Config) -> std::io::Result<(Source, Option<Sim>)> {
    if config.uses_embedded_sim() {
        let sim = Sim::start_local(config.sim_options()).await?;
        let source = Source { label: EMBEDDED_SIMULATOR.into(), base_url: sim.base_url(), key: None };
        return Ok((source, Some(sim)));
    }
    let base_url = config.base_url.clone().unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    let label = if config.api_key.is_some() { "live API" } else { "server without key" };
    Ok((Source { label: label.into(), base_url, key: config.api_key.clone() }, None))
}
