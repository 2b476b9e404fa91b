//! `snowflk-server`: runs one snowflk node. See `snowflk-server --help` and
//! `docs/server.md`.

use std::process::ExitCode;

use anyhow::Context as _;
use snowflk_server::backend::build_backend;
use snowflk_server::config::{Config, LogFormat};
use snowflk_server::server::{self, Server};

/// mimalloc instead of the system allocator: a node allocates per request
/// on several threads, and glibc's malloc cost about a tenth of the
/// leader's CPU under a SET load (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--hash-password") {
        return hash_password();
    }
    // Bad flags: clap prints its message and exits with status 2.
    let config = match Config::from_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("snowflk-server: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log, config.log_format);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line for the operator (the log already has the context).
            eprintln!("snowflk-server: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: many messages
/// already name their cause, which the chain would then repeat.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging(filter: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("snowflk")
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        // Installed first: a SIGTERM while the node starts (a test or an
        // operator that stops it as soon as it answers) then shuts it down
        // cleanly once started, instead of killing it by the default action.
        let shutdown = shutdown_signal();
        let listeners = server::bind(&config).await?;
        tracing::info!(
            id = config.id,
            data_dir = %config.data_dir.display(),
            replication = ?config.replication,
            "starting snowflk-server"
        );
        let backend = build_backend(&config).await?;
        let server = Server::new(listeners, config, backend)?;
        server.run(shutdown).await?;
        Ok(())
    })
}

/// Installs the SIGTERM and SIGINT handlers now (it must run inside the
/// runtime) and returns a future that completes on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move { wait_for_signal(term, int).await }
}

async fn wait_for_signal(
    term: std::io::Result<tokio::signal::unix::Signal>,
    int: std::io::Result<tokio::signal::unix::Signal>,
) {
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// `--hash-password`: one line from stdin to its Argon2id PHC string.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("snowflk-server: cannot read the password from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    match snowflk_server::auth::hash_password(password.as_bytes()) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("snowflk-server: cannot hash the password: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write {path}: {source}")]
    struct Named {
        path: &'static str,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_names_is_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(Named {
            path: "/x",
            source: io,
        })
        .context("starting");
        assert_eq!(one_line(&e), "starting: cannot write /x: disk on fire");
    }
}
