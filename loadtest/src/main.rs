//! `liveshop-loadtest <scenario> [options]`: see loadtest/README.md.
//! Exit status: 0 the checker passed, 1 it found a violation, 2 the run
//! could not be made (the one-line error on stderr says why).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use liveshop_loadtest::cli::{Cli, Scenario};
use liveshop_loadtest::report::RunResult;
use liveshop_loadtest::scenarios::{self, Env, RunError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("liveshop-loadtest: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(result) => {
            for line in &result.summary {
                println!("{line}");
            }
            if result.verdict.pass {
                println!("verdict: PASS ({} rules)", result.verdict.rules.len());
                ExitCode::SUCCESS
            } else {
                for v in &result.verdict.violations {
                    println!("verdict: FAIL {} x{}", v.rule, v.count);
                    for e in &v.examples {
                        println!("  {e}");
                    }
                }
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("liveshop-loadtest: error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli) -> Result<RunResult, RunError> {
    let result = match &cli.scenario {
        Scenario::FlashSale(args) => {
            args.validate().map_err(RunError::Usage)?;
            let env = Arc::new(Env::new(cli, args.setup_concurrency).await?);
            scenarios::flash_sale::run(env, args.clone()).await?
        }
    };
    if let Some(path) = &cli.out {
        result.write(path).map_err(|source| RunError::Output {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(result)
}
