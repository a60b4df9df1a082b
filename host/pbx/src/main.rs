//! The `pbx` binary: parses the command line and runs the chosen command.

use clap::Parser;

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
