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
    return_large_blocks_to_the_system();
    #[cfg(unix)]
    quiet_on_closed_pipe();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let outcome = runtime
        .map_err(anyhow::Error::from)
        .and_then(|r| r.block_on(run()));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let cli = Cli::parse();
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
        Command::Bench(args) => facebank::tools::bench::run(args).await,
        Command::Calibrate(args) => facebank::tools::calibrate::run(args).await,
        Command::Client(command) => facebank::tools::client::run(cli.server, command).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(?config, "Starting facebank");
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let bank = facebank::open(config).await?;

    tracing::info!(address = %listener.local_addr()?, "Serving gRPC");
    facebank::transport::grpc::serve(bank, listener, shutdown_signal()).await?;
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
/// image. glibc raises its mmap threshold each time such a block is freed, after
/// which those blocks stay in its heaps: a busy server grew from 130 MiB to 760
/// MiB. A fixed threshold (which also stops the adjustment) keeps large blocks
/// mapped on their own and returned when freed: 120 MiB under the same load.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks_to_the_system() {
    const THRESHOLD: libc::c_int = 256 * 1024;
    // SAFETY: mallopt only changes allocator tuning, and runs before the
    // process starts any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
    }
}

/// The terminal commands print to pipes (`facebank persons | head`); a closed
/// pipe should end the process quietly, as it does other tools, instead of
/// failing a print.
#[cfg(unix)]
fn quiet_on_closed_pipe() {
    // SAFETY: restores the default disposition of one signal before any other
    // thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_system() {}
