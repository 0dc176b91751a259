//! The command line: `liveshop-loadtest [global options] <scenario> [options]`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "liveshop-loadtest",
    version,
    about = "Drives liveshop nodes over the public contract, checks the history, reports.",
    after_help = "Exit status: 0 the checker passed; 1 the checker found a violation; \
                  2 the run could not be made (bad target, node down, setup refused)."
)]
pub struct Cli {
    /// A node's base URL; repeat for a cluster (virtual users are spread
    /// over the targets round-robin; setup and read-back use the first).
    #[arg(
        long = "target",
        global = true,
        default_value = "http://127.0.0.1:8080"
    )]
    pub targets: Vec<String>,

    /// Write the JSON result (scenario, params, figures, verdict, timeline)
    /// here; for `report`, the directory to write the report into.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,

    /// Source addresses for WebSockets to a loopback target, as a range
    /// (127.0.0.2-127.0.0.9), a comma list, or "none". One address alone
    /// gives only ~28k ports towards one node; ignored for other targets.
    #[arg(long, global = true, default_value = "127.0.0.2-127.0.0.9")]
    pub source_addrs: String,

    /// How long any single request, connect or reply may take, seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout_secs: u64,

    /// Write the HTML report (index.html, PNG charts, result.json) into
    /// this directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// A node process to sample the RSS of during the run (repeatable);
    /// the harness samples itself too. A missing or ended pid is reported.
    #[arg(long = "node-pid", global = true, value_name = "PID")]
    pub node_pids: Vec<u32>,

    /// How often RSS is sampled, ms.
    #[arg(long, global = true, default_value_t = 500)]
    pub rss_interval_ms: u64,

    /// The width of a throughput bucket in the timeline, ms.
    #[arg(long, global = true, default_value_t = 1000)]
    pub bucket_ms: u64,

    /// Run the virtual users in N worker processes of this executable (one
    /// process holds at most its `ulimit -n` sockets); this process does
    /// the setup, the host's part, the checker and the reports. 1: all in
    /// this process.
    #[arg(long, global = true, default_value_t = 1, value_name = "N")]
    pub workers: usize,

    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// N buyers race to hold units of one sale lot; some check out, the
    /// rest let their holds expire; no unit may be oversold.
    FlashSale(FlashSaleArgs),
    /// M bidders on K auction lots watched by V viewers per room, bidding
    /// at a target aggregate rate; every accepted bid must reach every
    /// viewer in order and the winner must be the highest accepted bid.
    Auction(AuctionArgs),
    /// Buyers, bidders and chatting viewers in a few rooms at modest rates
    /// for a duration (with `--node-pid`: the node's RSS over time).
    Soak(crate::scenarios::soak::SoakArgs),
    /// V anonymous viewers in one room; the host emits chat and pin events
    /// at a rate; measures each viewer's delivery latency (and, with
    /// `--node-pid`, the node's RSS per idle connection).
    Broadcast(crate::scenarios::broadcast::BroadcastArgs),
    /// R rooms of C chatters and V viewers chatting at a rate: fan-out
    /// throughput, delivery latency and refusals.
    ChatStorm(crate::scenarios::chat_storm::ChatStormArgs),
    /// Renders the HTML report of an existing JSON result (`--out DIR` or
    /// `--report DIR`); runs nothing.
    Report(ReportArgs),
    /// A worker process of a `--workers` run: reads its work order on
    /// stdin, answers on stdout (started by the driver, not by hand).
    #[command(hide = true)]
    Worker,
}

/// The most worker processes a run may start.
pub const MAX_WORKERS: usize = 64;

impl Cli {
    /// Rejects a `--workers` out of range, before any setup.
    pub fn validate_workers(&self) -> Result<(), String> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(format!("--workers must be 1..={MAX_WORKERS}"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A JSON result written by `--out` (or a report's result.json).
    pub result: PathBuf,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct FlashSaleArgs {
    /// Virtual buyers, each with its own user and WebSocket.
    #[arg(long, default_value_t = 10_000)]
    pub buyers: usize,
    /// Units of the sale lot.
    #[arg(long, default_value_t = 1_000)]
    pub stock: u64,
    /// Units one buyer may hold, buy or queue for.
    #[arg(long, default_value_t = 1)]
    pub per_user_limit: u64,
    /// Share of the buyers given a hold who check it out (0..=1).
    #[arg(long, default_value_t = 0.5)]
    pub checkout_fraction: f64,
    /// The lot's hold TTL (the node accepts 1000 ms to 24 h). The run waits
    /// about this long after the race for unbought holds to expire.
    #[arg(long, default_value_t = 10_000)]
    pub hold_ttl_ms: u64,
    /// WebSocket connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// HTTP setup requests (registrations) in flight at once.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
}

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct AuctionArgs {
    /// Virtual bidders, each with its own user and WebSocket. With fewer
    /// bidders than lots, bidder i bids on lots i, i+M, ... in turn;
    /// otherwise bidder i bids on lot i mod K.
    #[arg(long, default_value_t = 100)]
    pub bidders: usize,
    /// Auction lots.
    #[arg(long, default_value_t = 10)]
    pub lots: usize,
    /// Lots per room (each room's viewers watch all of its lots).
    #[arg(long, default_value_t = 1)]
    pub lots_per_room: usize,
    /// Anonymous viewers joined to each room (bidders also watch their
    /// lots' rooms).
    #[arg(long, default_value_t = 10)]
    pub viewers: usize,
    /// Target bids a second over all bidders (open loop: each bidder sends
    /// on its own schedule whether or not earlier bids were answered).
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// How long the bidders bid, seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// The lots' start price (minor units).
    #[arg(long, default_value_t = 100)]
    pub start_price: i64,
    /// The lots' `min_increment` (minor units): a bidder offers the highest
    /// bid it knows of plus this.
    #[arg(long, default_value_t = 1)]
    pub increment: i64,
    /// WebSocket connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// HTTP setup requests (registrations, rooms, lots) in flight at once.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
}

impl AuctionArgs {
    /// Rejects values the node or the scenario cannot use, before any setup.
    pub fn validate(&self) -> Result<(), String> {
        if self.bidders == 0 || self.lots == 0 || self.lots_per_room == 0 {
            return Err("--bidders, --lots and --lots-per-room must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err("--rate must be a positive number of bids a second".into());
        }
        if !(1..=86_400).contains(&self.duration_secs) {
            return Err("--duration-secs must be 1..=86400".into());
        }
        if self.start_price < 1 || self.increment < 1 {
            return Err("--start-price and --increment must be at least 1".into());
        }
        if self.connect_concurrency == 0 || self.setup_concurrency == 0 {
            return Err("concurrency options must be at least 1".into());
        }
        Ok(())
    }
}

/// Parses `--source-addrs`: "a-b" (IPv4, same first three octets), "a,b,c"
/// or "none".
pub fn parse_source_addrs(spec: &str) -> Result<Vec<IpAddr>, String> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "none" {
        return Ok(Vec::new());
    }
    if let Some((a, b)) = spec.split_once('-') {
        let parse = |s: &str| {
            s.trim()
                .parse::<Ipv4Addr>()
                .map_err(|e| format!("--source-addrs {spec:?}: {s:?}: {e}"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        let (oa, ob) = (a.octets(), b.octets());
        if oa[..3] != ob[..3] || oa[3] > ob[3] {
            return Err(format!(
                "--source-addrs {spec:?}: a range must stay within one /24 and go upwards"
            ));
        }
        return Ok((oa[3]..=ob[3])
            .map(|last| IpAddr::V4(Ipv4Addr::new(oa[0], oa[1], oa[2], last)))
            .collect());
    }
    spec.split(',')
        .map(|s| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|e| format!("--source-addrs {spec:?}: {s:?}: {e}"))
        })
        .collect()
}

impl FlashSaleArgs {
    /// Rejects values the node or the scenario cannot use, before any setup.
    pub fn validate(&self) -> Result<(), String> {
        if self.buyers == 0 {
            return Err("--buyers must be at least 1".into());
        }
        if !(1..=1_000_000).contains(&self.stock) {
            return Err("--stock must be 1..=1000000 (the node's limit)".into());
        }
        if self.per_user_limit == 0 {
            return Err("--per-user-limit must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.checkout_fraction) {
            return Err("--checkout-fraction must be within 0..=1".into());
        }
        if !(1_000..=86_400_000).contains(&self.hold_ttl_ms) {
            return Err("--hold-ttl-ms must be 1000..=86400000 (the node's limits)".into());
        }
        if self.connect_concurrency == 0 || self.setup_concurrency == 0 {
            return Err("concurrency options must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_address_specs() {
        let v = parse_source_addrs("127.0.0.2-127.0.0.9").unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!(v[7].to_string(), "127.0.0.9");
        assert!(parse_source_addrs("none").unwrap().is_empty());
        assert_eq!(parse_source_addrs("127.0.0.1,::1").unwrap().len(), 2);
        assert!(parse_source_addrs("127.0.0.9-127.0.0.2").is_err());
        assert!(parse_source_addrs("bogus").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        let cli = Cli::try_parse_from([
            "liveshop-loadtest",
            "--target",
            "http://a:1",
            "--target",
            "http://b:2",
            "flash-sale",
            "--buyers",
            "300",
        ])
        .unwrap();
        assert_eq!(cli.targets, ["http://a:1", "http://b:2"]);
        let Scenario::FlashSale(args) = cli.scenario else {
            panic!("not flash-sale");
        };
        assert_eq!((args.buyers, args.stock), (300, 1000));
        assert!(args.validate().is_ok());
        assert_eq!(cli.workers, 1);
    }

    #[test]
    fn workers_are_checked_against_the_scenario() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("liveshop-loadtest").chain(args.iter().copied()))
                .unwrap()
        };
        assert!(
            parse(&["--workers", "2", "broadcast"])
                .validate_workers()
                .is_ok()
        );
        assert!(
            parse(&["flash-sale", "--workers", "3"])
                .validate_workers()
                .is_ok()
        );
        assert!(
            parse(&["--workers", "2", "auction"])
                .validate_workers()
                .is_ok()
        );
        assert!(
            parse(&["--workers", "2", "soak"])
                .validate_workers()
                .is_ok()
        );
        assert!(
            parse(&["--workers", "65", "soak"])
                .validate_workers()
                .is_err()
        );
        assert!(
            parse(&["--workers", "0", "broadcast"])
                .validate_workers()
                .is_err()
        );
        assert!(matches!(parse(&["worker"]).scenario, Scenario::Worker));
    }
}
