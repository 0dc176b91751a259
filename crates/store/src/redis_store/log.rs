//! [`EventLog`] on Redis: a meta hash per log, a list of payloads, and the
//! fence-and-append / fenced-snapshot scripts.

use async_trait::async_trait;

use super::{RedisStore, bad_reply, decode, encode, parse_u64, unavailable};
use crate::{Epoch, EventLog, LogKey, Result, Snapshot, StoreError, StoredEvent};

impl RedisStore {
    /// Maps the `{'fenced', cur}` / `{'gap', expected, got}` / `{'ok'}`
    /// replies of the fenced scripts.
    fn fence_reply(script: &str, skey: &str, epoch: Epoch, reply: &[String]) -> Result<()> {
        match reply {
            [s] if s == "ok" => Ok(()),
            [s, cur] if s == "fenced" => Err(StoreError::Fenced {
                key: skey.to_owned(),
                current: parse_u64(script, cur)?,
                presented: epoch,
            }),
            [s, expected, got] if s == "gap" => Err(StoreError::SeqGap {
                key: skey.to_owned(),
                expected: parse_u64(script, expected)?,
                got: parse_u64(script, got)?,
            }),
            other => Err(bad_reply(script, &other)),
        }
    }
}

#[async_trait]
impl EventLog for RedisStore {
    async fn claim(&self, key: &LogKey) -> Result<Epoch> {
        let meta = self.key("log", &key.storage_key());
        let epoch: i64 = redis::cmd("HINCRBY")
            .arg(&meta)
            .arg("epoch")
            .arg(1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("claiming {meta}"), e))?;
        u64::try_from(epoch)
            .map_err(|_| StoreError::Corrupt(format!("epoch of {meta} is negative: {epoch}")))
    }

    async fn append(&self, key: &LogKey, epoch: Epoch, events: &[StoredEvent]) -> Result<()> {
        let skey = key.storage_key();
        let mut inv = self.scripts.append.prepare_invoke();
        inv.key(self.key("log", &skey))
            .key(self.key("events", &skey))
            .arg(epoch.to_string());
        for ev in events {
            inv.arg(ev.seq.to_string()).arg(ev.payload.as_slice());
        }
        let reply: Vec<String> = inv
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("appending to {skey}"), e))?;
        Self::fence_reply("append", &skey, epoch, &reply)
    }

    async fn read(&self, key: &LogKey, after: u64) -> Result<Vec<StoredEvent>> {
        let Ok(start) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let list = self.key("events", &key.storage_key());
        let payloads: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(&list)
            .arg(start)
            .arg(-1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("LRANGE {list}"), e))?;
        Ok(payloads
            .into_iter()
            .zip(after + 1..)
            .map(|(payload, seq)| StoredEvent { seq, payload })
            .collect())
    }

    async fn last_seq(&self, key: &LogKey) -> Result<u64> {
        let meta = self.key("log", &key.storage_key());
        let last: Option<String> = redis::cmd("HGET")
            .arg(&meta)
            .arg("last")
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("HGET {meta} last"), e))?;
        last.map_or(Ok(0), |s| parse_u64("last_seq", &s))
    }

    async fn save_snapshot(&self, key: &LogKey, epoch: Epoch, snapshot: &Snapshot) -> Result<()> {
        let skey = key.storage_key();
        let value = encode("snapshot", snapshot)?;
        let reply: Vec<String> = self
            .scripts
            .snapshot
            .key(self.key("log", &skey))
            .key(self.key("snap", &skey))
            .arg(epoch.to_string())
            .arg(snapshot.seq.to_string())
            .arg(value)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("saving snapshot of {skey}"), e))?;
        Self::fence_reply("snapshot", &skey, epoch, &reply)
    }

    async fn load_snapshot(&self, key: &LogKey) -> Result<Option<Snapshot>> {
        let snap = self.key("snap", &key.storage_key());
        match self.get_bytes(&snap).await? {
            Some(bytes) => decode("snapshot", &snap, &bytes).map(Some),
            None => Ok(None),
        }
    }
}
