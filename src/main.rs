use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before the runtime's threads exist.
    let cli = barfill::cli::Cli::parse();
    if cli.is_export() {
        barfill::heap::keep_freed_buffers();
    } else {
        barfill::heap::bound_large_buffers();
    }
    barfill::priority::keep_a_thread_maker();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(barfill::priority::lower_this_thread)
        .build()
    {
        Ok(runtime) => runtime.block_on(barfill::cli::main(cli)),
        Err(e) => {
            eprintln!("barfill: could not start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
