//! `liveshop-loadtest <scenario> [options]`: see loadtest/README.md.
//! Exit status: 0 the checker passed, 1 it found a violation, 2 the run
//! could not be made (the one-line error on stderr says why).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use liveshop_loadtest::cli::{Cli, ReportArgs, Scenario};
use liveshop_loadtest::report::{RunResult, html, write_json};
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
    match &cli.scenario {
        Scenario::Report(args) => return report_only(&cli, args),
        Scenario::Worker => return liveshop_loadtest::workers::worker_main(),
        _ => {}
    }
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
    cli.validate_workers().map_err(RunError::Usage)?;
    // Each arm keeps a handle on its Env for the timeline (throughput and
    // RSS over time) and the workers' figures that go into the result.
    let (env, mut result) = match &cli.scenario {
        Scenario::FlashSale(args) => {
            args.validate().map_err(RunError::Usage)?;
            let env = Arc::new(Env::new(cli, args.setup_concurrency).await?);
            let result = scenarios::flash_sale::run(env.clone(), args.clone()).await?;
            (env, result)
        }
        Scenario::Auction(args) => {
            args.validate().map_err(RunError::Usage)?;
            let env = Arc::new(Env::new(cli, args.setup_concurrency).await?);
            let result = scenarios::auction::run(env.clone(), args.clone()).await?;
            (env, result)
        }
        Scenario::Soak(args) => {
            args.validate().map_err(RunError::Usage)?;
            let env = Arc::new(Env::new(cli, args.setup_concurrency).await?);
            let result = scenarios::soak::run(env.clone(), args.clone()).await?;
            (env, result)
        }
        Scenario::Broadcast(args) => {
            args.validate().map_err(RunError::Usage)?;
            let env = Arc::new(Env::new(cli, args.setup_concurrency).await?);
            let pid = cli.node_pids.first().copied();
            let result = scenarios::broadcast::run(env.clone(), args.clone(), pid).await?;
            (env, result)
        }
        Scenario::ChatStorm(args) => {
            args.validate().map_err(RunError::Usage)?;
            let env = Arc::new(Env::new(cli, args.setup_concurrency).await?);
            let pid = cli.node_pids.first().copied();
            let result = scenarios::chat_storm::run(env.clone(), args.clone(), pid).await?;
            (env, result)
        }
        Scenario::Report(_) | Scenario::Worker => {
            return Err(RunError::Usage("`report` runs no scenario".into()));
        }
    };
    let timeline = env.timeline.finish().await;
    result.summary.extend(timeline.rss_summary());
    let mut json = result.to_json(&timeline);
    json["workers"] = serde_json::json!(env.workers);
    let workers = env.worker_reports();
    if !workers.is_empty() {
        let or_na = |x: Option<String>| x.unwrap_or_else(|| "n/a".into());
        result.summary.extend(workers.iter().map(|w| {
            let f = &w.figures;
            format!(
                "worker {} (pid {}): {} virtual users, CPU {} s, peak RSS {} MiB",
                w.worker,
                w.pid,
                w.members,
                or_na(f.cpu_s.map(|s| format!("{s:.2}"))),
                or_na(f.rss_peak_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)))
            )
        }));
        json["figures"]["harness_workers"] = serde_json::json!(workers);
    }
    if let Some(path) = &cli.out {
        write_json(path, &json).map_err(|source| RunError::Output {
            path: path.display().to_string(),
            source,
        })?;
    }
    if let Some(dir) = &cli.report {
        html::render(&json, dir).map_err(|e| RunError::Output {
            path: dir.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        let index = dir.join("index.html");
        result.summary.push(format!("report: {}", index.display()));
    }
    Ok(result)
}

/// `report RESULT.json --out DIR`: the HTML report of an earlier run.
fn report_only(cli: &Cli, args: &ReportArgs) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("liveshop-loadtest: error: {msg}");
        ExitCode::from(2)
    };
    let Some(dir) = cli.out.as_ref().or(cli.report.as_ref()) else {
        return fail("report: give the directory to write into with --out DIR".into());
    };
    let path = &args.result;
    let result: serde_json::Value = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return fail(format!("cannot read the result {}: {e}", path.display())),
    };
    match html::render(&result, dir) {
        Ok(_) => {
            println!("report: {}", dir.join("index.html").display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("cannot write the report to {}: {e}", dir.display())),
    }
}
