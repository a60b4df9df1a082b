//! The `pbx` binary: parses the command line and runs the chosen command.

use clap::Parser;

/// mimalloc: the engine allocates many small strings per message; the system allocator's
/// free-list work showed up at the top of REGISTER profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = pbx::cli::Cli::parse();
    match pbx::cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
