//! A node's actors over a real embedded store in a temporary directory.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use liveshop_actors::{ActorConfig, ConnHandle, Outbound, Region};
use liveshop_domain::{LotCommand, LotReply, Sequenced};
use liveshop_protocol::{
    Allocation, AuctionTerms, Currency, LotId, LotSpec, LotTerms, Notice, RoomEvent, RoomId,
    SaleTerms, UserId,
};
use liveshop_store::{EmbeddedStore, LotRecord, RoomRecord, Rooms, Store};
use tempfile::TempDir;
use tokio::sync::mpsc;

/// Generous: the machine is slow and shared.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

pub fn host() -> UserId {
    user("host")
}

pub fn room_id() -> RoomId {
    RoomId::new("r1").unwrap()
}

pub fn config() -> ActorConfig {
    ActorConfig {
        room_tick: Duration::from_millis(20),
        wake_lots_on_start: false,
        ..ActorConfig::default()
    }
}

pub struct Node {
    pub dir: TempDir,
    pub store: Arc<EmbeddedStore>,
    pub region: Region,
}

impl Node {
    /// A fresh store with room `r1` hosted by `host`.
    pub async fn new(config: ActorConfig) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        store
            .create_room(&RoomRecord {
                room_id: room_id(),
                host: host(),
                title: "Sneaker night".into(),
                description: Some("drops".into()),
                stream_key: "key-r1".into(),
                created_ms: 1,
            })
            .await
            .unwrap();
        let region = Region::start(store.clone(), config).await.unwrap();
        Node { dir, store, region }
    }

    /// Shuts the region down, closes the store, and starts both again on the
    /// same directory.
    pub async fn restart(self, config: ActorConfig) -> Node {
        let Node { dir, store, region } = self;
        region.shutdown().await;
        drop(region);
        drop(store);
        // The store's lock goes with its last reference; tasks that still
        // hold one finish promptly.
        let mut tries = 0;
        let store = loop {
            match EmbeddedStore::open(dir.path()) {
                Ok(s) => break Arc::new(s),
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot reopen the store: {e}"),
            }
        };
        let region = Region::start(store.clone(), config).await.unwrap();
        Node { dir, store, region }
    }

    pub async fn lot(&self, id: &str, terms: LotTerms) -> LotId {
        let lot = LotId::new(id).unwrap();
        self.region
            .create_lot(LotRecord {
                lot_id: lot.clone(),
                room_id: room_id(),
                host: host(),
                spec: LotSpec {
                    title: format!("lot {id}"),
                    currency: Currency::USD,
                    terms,
                },
                created_ms: 2,
            })
            .await
            .unwrap();
        lot
    }

    pub async fn open(&self, lot: &LotId) {
        let reply = self
            .region
            .lot_command(
                lot,
                LotCommand::Open {
                    by: host(),
                    seed: [7; 32],
                },
            )
            .await
            .unwrap();
        assert!(matches!(reply, Ok(LotReply::Opened { .. })), "{reply:?}");
    }
}

pub fn auction(duration_ms: u64) -> LotTerms {
    LotTerms::Auction(AuctionTerms {
        start_price: 1000,
        duration_ms,
        anti_snipe_ms: 0,
        min_increment: Some(1),
    })
}

pub fn sale(stock: u32, hold_ttl_ms: u64) -> LotTerms {
    LotTerms::Sale(SaleTerms {
        price: 2500,
        stock,
        per_user_limit: None,
        hold_ttl_ms,
        allocation: Allocation::Fifo,
        duration_ms: None,
    })
}

pub fn conn(
    id: u64,
    user: Option<UserId>,
    capacity: usize,
) -> (ConnHandle, mpsc::Receiver<Outbound>) {
    ConnHandle::new(id, user, capacity)
}

/// The next room events on `rx` until `done` says enough, failing after WAIT.
pub async fn events_until(
    rx: &mut mpsc::Receiver<Outbound>,
    mut done: impl FnMut(&[Sequenced]) -> bool,
) -> Vec<Sequenced> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&got) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Outbound::Events(batch))) => got.extend(batch.events.iter().cloned()),
            Ok(Some(_)) => {}
            Ok(None) => panic!("connection closed"),
            Err(_) => panic!("timed out; got {} events: {got:?}", got.len()),
        }
    }
    got
}

/// The first notice on `rx` that `pick` accepts, failing after WAIT.
pub async fn notice_where(
    rx: &mut mpsc::Receiver<Outbound>,
    pick: impl Fn(&Notice) -> bool,
) -> Notice {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Outbound::Notice(n))) if pick(&n) => return *n,
            Ok(Some(_)) => {}
            Ok(None) => panic!("connection closed"),
            Err(_) => panic!("timed out waiting for a notice"),
        }
    }
}

pub fn bids(events: &[Sequenced]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            RoomEvent::Bid {
                lot_seq, amount, ..
            } => Some((*lot_seq, *amount)),
            _ => None,
        })
        .collect()
}

pub fn assert_gapless(events: &[Sequenced]) {
    for w in events.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "room seqs must have no gap");
    }
}

/// Polls `check` until it holds, failing after WAIT.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn store_dyn(store: &Arc<EmbeddedStore>) -> Arc<dyn Store> {
    store.clone()
}
