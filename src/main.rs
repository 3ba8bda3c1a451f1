//! The `facebank` command.

use std::{io::IsTerminal, net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use facebank::config::Config;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "facebank",
    version,
    about = "Face registration and recognition over gRPC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    server: facebank::tools::client::Server,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the gRPC server.
    Serve {
        /// Address to listen on [env: FACEBANK_LISTEN] [default: 127.0.0.1:50051]
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where the embedded database lives [env: FACEBANK_DATA_DIR] [default: ./data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Applies pending database migrations and exits (the server also does
    /// at start unless `database.migrate_on_start` is false).
    Migrate,
    /// Compares the vector index (Milvus) with the database and reports
    /// vectors without rows and rows without vectors; exits 1 when they
    /// differ.
    Reconcile {
        /// Also repair: write the missing vectors, remove the stray ones.
        #[arg(long)]
        repair: bool,
        /// Repair even when that would remove most of the index's vectors.
        #[arg(long, requires = "repair")]
        force: bool,
    },
    /// Rebuilds the vector index (Milvus) from the database: writes every
    /// face's vector again and removes vectors that have no row.
    Reindex {
        /// Drop the collection and create it anew first, e.g. after changing
        /// milvus.hnsw_*; searches miss faces until the rebuild is done.
        #[arg(long)]
        recreate: bool,
    },
    /// Measures the pipeline's stages, Recognize latency and throughput, and
    /// memory; prints a report.
    Bench(facebank::tools::bench::BenchArgs),
    /// Reports false-accept and false-reject rates over labelled photos at a
    /// range of match thresholds.
    Calibrate(facebank::tools::calibrate::CalibrateArgs),
    #[command(flatten)]
    Client(facebank::tools::client::ClientCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Only the terminal client; a server must survive peers that hang up.
    #[cfg(unix)]
    if matches!(cli.command, Command::Client(_)) {
        quiet_on_closed_pipe();
    }
    trim_the_heap_periodically();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let outcome = runtime
        .map_err(anyhow::Error::from)
        .and_then(|r| r.block_on(run(cli)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match cli.command {
        Command::Serve { listen, data_dir } => {
            let mut config = Config::load().context("invalid configuration")?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if let Some(data_dir) = data_dir {
                config.data_dir = data_dir;
            }
            serve(config).await
        }
        Command::Migrate => {
            let config = Config::load().context("invalid configuration")?;
            let applied = facebank::migrate(&config).await?;
            if applied.is_empty() {
                println!("The database is up to date.");
            }
            for version in applied {
                println!("applied {version}");
            }
            Ok(())
        }
        Command::Reconcile { repair, force } => {
            let config = Config::load().context("invalid configuration")?;
            let drift = facebank::reconcile(&config, repair, force).await?;
            print_drift(&drift);
            if drift.is_clean() || repair {
                Ok(())
            } else {
                anyhow::bail!("the vector index differs from the database; `facebank reconcile --repair` repairs it")
            }
        }
        Command::Reindex { recreate } => {
            let config = Config::load().context("invalid configuration")?;
            let (loaded, drift) = facebank::reindex(&config, recreate).await?;
            println!("wrote {loaded} vectors from the database");
            println!(
                "removed {} vectors without a row",
                drift.vectors_without_rows.len()
            );
            Ok(())
        }
        Command::Bench(args) => facebank::tools::bench::run(args).await,
        Command::Calibrate(args) => facebank::tools::calibrate::run(args).await,
        Command::Client(command) => facebank::tools::client::run(cli.server, command).await,
    }
}

fn print_drift(drift: &facebank::app::maintenance::Drift) {
    println!(
        "{} faces in the database, {} vectors in the index",
        drift.faces, drift.vectors
    );
    let verb = if drift.repaired { "written" } else { "missing" };
    println!(
        "{} rows without a vector ({verb})",
        drift.rows_without_vectors.len()
    );
    for id in &drift.rows_without_vectors {
        println!("  row without vector: {id}");
    }
    let verb = if drift.repaired { "removed" } else { "stray" };
    println!(
        "{} vectors without a row ({verb})",
        drift.vectors_without_rows.len()
    );
    for id in &drift.vectors_without_rows {
        println!("  vector without row: {id}");
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = ?config.redacted(), "Starting facebank");
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let gateway = match config.gateway.listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (gateway.listen)"))?,
        ),
        None => None,
    };
    let bank = facebank::open(config).await?;

    // One signal stops both servers; each finishes the calls in flight.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let gateway = match gateway {
        Some(listener) => {
            tracing::info!(address = %listener.local_addr()?, "Serving the REST gateway");
            let mut stopped = stopped.clone();
            let bank = std::sync::Arc::clone(&bank);
            Some(tokio::spawn(facebank::transport::rest::serve(
                bank,
                listener,
                async move {
                    let _ = stopped.changed().await;
                },
            )))
        }
        None => None,
    };
    tracing::info!(address = %listener.local_addr()?, "Serving gRPC");
    let served = facebank::transport::grpc::serve(bank, listener, async move {
        shutdown_signal().await;
        let _ = stop.send(());
    })
    .await;
    drop(stopped);
    if let Some(gateway) = gateway {
        gateway.await??;
    }
    served?;
    tracing::info!("Stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("Shutting down");
}

/// Inference allocates and frees tens of megabytes of intermediate tensors per
/// image. glibc keeps freed blocks of that size in its heaps once its adaptive
/// mmap threshold has risen: a busy server grew from 130 MiB to 750 MiB and
/// stayed there. Forcing large blocks onto mmap instead returned the memory but
/// made every model run about a third slower (fresh pages each time). Trimming
/// the heaps twice a second keeps the speed and gives the memory back (270 MiB
/// half a second after the same load, falling to the working set when idle).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_the_heap_periodically() {
    std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            // SAFETY: malloc_trim only returns free heap pages to the system;
            // glibc makes it safe to call while other threads allocate.
            unsafe {
                libc::malloc_trim(0);
            }
        })
        .expect("the trimming thread starts");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_the_heap_periodically() {}

/// The terminal commands print to pipes (`facebank persons | head`); a closed
/// pipe should end the process quietly, as it does other tools, instead of
/// failing a print. Never for `serve`: there a peer that hangs up would kill
/// the server.
#[cfg(unix)]
fn quiet_on_closed_pipe() {
    // SAFETY: restores the default disposition of one signal, before any other
    // thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
