use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    barfill::cli::main(barfill::cli::Cli::parse()).await
}
