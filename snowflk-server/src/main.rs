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
            eprintln!("snowflk-server: {e:#}");
            ExitCode::FAILURE
        }
    }
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
        let listener = server::bind(&config).await?;
        tracing::info!(
            id = config.id,
            data_dir = %config.data_dir.display(),
            replication = ?config.replication,
            "starting snowflk-server"
        );
        let backend = build_backend(&config).await?;
        let server = Server::new(listener, config, backend)?;
        server.run(shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
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
