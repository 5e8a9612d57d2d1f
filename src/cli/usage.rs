//! `barfill completions SHELL` and `barfill man`: made from the same clap definitions as
//! the parser, so they can never list a flag the binary does not take.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, exit};

pub(super) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "barfill", &mut script);
    print(&script)
}

/// barfill(1), or a subcommand's own page, barfill-NAME(1), with every flag it takes.
pub(super) fn man_page(subcommand: Option<&str>) -> ExitCode {
    let barfill = Cli::command();
    let command = match subcommand {
        None => barfill,
        Some(name) => match barfill.find_subcommand(name) {
            Some(sub) => {
                let page = format!("barfill-{}", sub.get_name());
                sub.clone().name(page)
            }
            None => {
                let names: Vec<&str> = barfill.get_subcommands().map(|c| c.get_name()).collect();
                eprintln!("error: no subcommand '{name}'; one of {}", names.join(", "));
                return ExitCode::from(exit::BAD_INPUT);
            }
        },
    };
    let mut page = Vec::new();
    match clap_mangen::Man::new(command).render(&mut page) {
        Ok(()) => print(&page),
        Err(e) => {
            eprintln!("error: rendering the man page: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// Writes to stdout; a reader that closed the pipe early (`| head`) is not an error.
fn print(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}
