//! `snowflk-tools`: see `docs/tools.md` and `snowflk-tools --help`.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use snowflk_tools::{Cli, Status, ToolError, exit};

fn main() -> ExitCode {
    // clap prints usage errors and exits with code 2 itself.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(e) => {
            let tool_error = e.downcast_ref::<ToolError>();
            if tool_error.is_some_and(ToolError::is_broken_pipe) {
                return ExitCode::from(exit::OK);
            }
            // ToolError messages already include their cause.
            eprintln!("snowflk-tools: {e}");
            ExitCode::from(tool_error.map_or(exit::CANNOT_RUN, ToolError::exit_code))
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<Status> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let status = snowflk_tools::run(cli, &mut out)?;
    out.flush().map_err(ToolError::Output)?;
    Ok(status)
}
