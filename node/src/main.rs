//! `liveshop`: one node of liveshop. With no arguments it serves a single node
//! on 127.0.0.1:8080 with the embedded store in `./data`; `liveshop migrate`
//! creates the configured store's schema.

mod app;
mod config;
mod demo;

use clap::Parser;

use crate::config::{Cli, Command, Config, LogFormat};

/// mimalloc instead of glibc's malloc: glibc kept every argon2 buffer
/// (19 MiB each, hashed on tokio's blocking threads, each with its own
/// arena) and grew the node to 1.5 GiB over 2,000 sign-ups; see
/// docs/architecture.md ("Memory") for the figures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("liveshop: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(Command::Config) = cli.command {
        match toml::to_string(&config.redacted()) {
            Ok(text) => print!("{text}"),
            Err(e) => eprintln!("liveshop: {e}"),
        }
        return std::process::ExitCode::SUCCESS;
    }
    init_logging(&config);
    let demo = cli.demo || matches!(cli.command, Some(Command::Demo));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("liveshop: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Migrate) => runtime.block_on(app::migrate(&config)),
        _ => runtime.block_on(app::run(config, demo, cli.migrate)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("liveshop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
