//! Users and refresh-token families on ScyllaDB. The crash ordering of
//! `create_user` is in the module doc of `mod.rs`.

use async_trait::async_trait;
use liveshop_protocol::UserId;

use super::{Lwt, ScyllaStore, decode, encode, to_i64, to_u64};
use crate::{RefreshFamily, RefreshTokens, Result, Rotation, StoreError, UserRecord, Users};

/// How many times `rotate` re-tries a refusal the family's state does not
/// explain (it changed between the refusal and the look).
const ROTATE_ATTEMPTS: usize = 3;

/// The wall clock in ms (claim ages only: safety never depends on it).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A `usernames` row: holder, claim time, completed.
type NameClaim = (Option<String>, Option<i64>, Option<bool>);

impl ScyllaStore {
    async fn name_claim(&self, username: &str, lwt: &Lwt) -> Result<NameClaim> {
        if lwt.has("user_id") && lwt.has("complete") && lwt.has("claimed_ms") {
            return Ok((
                lwt.text("user_id")?.map(str::to_owned),
                lwt.bigint("claimed_ms")?,
                lwt.boolean("complete")?,
            ));
        }
        let row: Option<NameClaim> = self
            .first_row(
                "reading a username claim",
                &self.st.select_username,
                (username,),
            )
            .await?;
        Ok(row.unwrap_or((None, None, None)))
    }

    /// Claims `username` for `id` (step 1 of `create_user`).
    async fn claim_username(&self, username: &str, id: &str) -> Result<()> {
        let taken = || StoreError::Conflict(format!("username {username:?}"));
        let now = now_ms();
        let claim = self
            .lwt(
                "claiming a username",
                &self.st.claim_username,
                (username, id, now),
            )
            .await?;
        if claim.applied {
            return Ok(());
        }
        match self.name_claim(username, &claim).await? {
            (Some(holder), _, complete) if holder == id && complete != Some(true) => {
                // Our own earlier attempt (a retry after a timeout): go on.
                Ok(())
            }
            (Some(holder), claimed_ms, Some(false)) => {
                let stale_ms =
                    i64::try_from(self.options.stale_claim_after.as_millis()).unwrap_or(i64::MAX);
                if claimed_ms.is_some_and(|at| now.saturating_sub(at) < stale_ms) {
                    return Err(taken());
                }
                // Its creator crashed mid-way long ago: take the name over.
                // If that creator ever resumes, its completion step fails.
                let values = (id, now, username, holder.as_str());
                let took = self
                    .lwt(
                        "taking over a stale username claim",
                        &self.st.take_over_username,
                        values,
                    )
                    .await?;
                if took.applied { Ok(()) } else { Err(taken()) }
            }
            (Some(_), _, _) => Err(taken()),
            (None, _, _) => Err(StoreError::Unavailable(format!(
                "ScyllaDB: username {username:?} was claimed and released concurrently; retry"
            ))),
        }
    }
}

#[async_trait]
impl Users for ScyllaStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let id = user.user_id.as_str();
        let name = user.username.as_str();
        let record = encode("user", user)?;
        // 1. The name. Readers ignore it until it is complete.
        self.claim_username(name, id).await?;
        // 2. The user row.
        let inserted = self
            .lwt(
                "creating a user",
                &self.st.insert_user,
                (id, name, record.as_slice()),
            )
            .await?;
        if !inserted.applied {
            let existing = if inserted.has("username") {
                inserted.text("username")?.map(str::to_owned)
            } else {
                self.user(&user.user_id).await?.map(|u| u.username)
            };
            if existing.as_deref() != Some(name) {
                // The id belongs to another user: give the name back.
                self.lwt(
                    "releasing a username",
                    &self.st.release_username,
                    (name, id),
                )
                .await?;
                return Err(StoreError::Conflict(format!("user {id}")));
            }
            // Else our own earlier attempt wrote it: complete the claim.
        }
        // 3. Complete the claim; refused only if a stale-claim takeover won.
        let done = self
            .lwt(
                "completing a username claim",
                &self.st.complete_username,
                (name, id),
            )
            .await?;
        if !done.applied {
            self.lwt(
                "removing an orphaned user",
                &self.st.delete_user,
                (id, name),
            )
            .await?;
            return Err(StoreError::Conflict(format!("username {name:?}")));
        }
        Ok(())
    }

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self
            .first_row("reading a user", &self.st.select_user, (id.as_str(),))
            .await?;
        match row.and_then(|(r,)| r) {
            Some(bytes) => decode("user", id.as_str(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row: Option<NameClaim> = self
            .first_row("reading a username", &self.st.select_username, (username,))
            .await?;
        let Some((Some(id), _, Some(true))) = row else {
            return Ok(None);
        };
        let id = UserId::new(&id)
            .map_err(|e| StoreError::Corrupt(format!("username {username:?} -> bad id: {e}")))?;
        match self.user(&id).await? {
            Some(user) if user.username == username => Ok(Some(user)),
            other => Err(StoreError::Corrupt(format!(
                "username {username:?} is complete for {id}, whose record is {other:?}"
            ))),
        }
    }
}

#[async_trait]
impl RefreshTokens for ScyllaStore {
    async fn create_family(&self, family: &RefreshFamily) -> Result<()> {
        let values = (
            family.family.as_str(),
            family.user_id.as_str(),
            family.current_hash.as_str(),
            to_i64("expires_ms", family.expires_ms)?,
            family.revoked,
        );
        let lwt = self
            .lwt("creating a refresh family", &self.st.insert_family, values)
            .await?;
        if lwt.applied {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "refresh family {:?}",
                family.family
            )))
        }
    }

    async fn rotate(
        &self,
        family: &str,
        presented_hash: &str,
        next_hash: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<Rotation> {
        let expires = to_i64("expires_ms", expires_ms)?;
        // A `now` beyond any bigint is past every expiry.
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        for _ in 0..ROTATE_ATTEMPTS {
            let values = (next_hash, expires, family, presented_hash, now);
            let lwt = self
                .lwt("rotating a refresh token", &self.st.rotate_family, values)
                .await?;
            if lwt.applied {
                // The user never changes: read it (the answer carries only
                // the condition's columns).
                let user_id = match lwt.text("user_id")? {
                    Some(u) => user_id(u)?,
                    None => match self.family(family).await? {
                        Some(f) => f.user_id,
                        None => {
                            return Err(StoreError::Corrupt(format!(
                                "refresh family {family:?} vanished after rotating"
                            )));
                        }
                    },
                };
                return Ok(Rotation::Rotated(RefreshFamily {
                    family: family.to_owned(),
                    user_id,
                    current_hash: next_hash.to_owned(),
                    expires_ms,
                    revoked: false,
                }));
            }
            let (hash, fam_expires, revoked) =
                if lwt.has("current_hash") && lwt.has("expires_ms") && lwt.has("revoked") {
                    (
                        lwt.text("current_hash")?.map(str::to_owned),
                        lwt.bigint("expires_ms")?,
                        lwt.boolean("revoked")?,
                    )
                } else {
                    match self.family(family).await? {
                        None => (None, None, None),
                        Some(f) => (
                            Some(f.current_hash),
                            Some(to_i64("expires_ms", f.expires_ms)?),
                            Some(f.revoked),
                        ),
                    }
                };
            let Some(hash) = hash else {
                return Ok(Rotation::Unknown);
            };
            // Dead (revoked or expired) first: a wrong token for a dead
            // family is not reuse and changes nothing.
            if revoked == Some(true) || fam_expires.is_none_or(|e| now >= e) {
                return Ok(Rotation::Revoked);
            }
            if hash != presented_hash {
                self.revoke_family(family).await?;
                return Ok(Rotation::Reused);
            }
            // The family allows it now: it changed under us; try again.
        }
        Err(StoreError::Unavailable(format!(
            "ScyllaDB: rotating refresh family {family:?} kept racing"
        )))
    }

    async fn revoke_family(&self, family: &str) -> Result<()> {
        // IF EXISTS: never create a half row for an unknown family.
        self.lwt(
            "revoking a refresh family",
            &self.st.revoke_family,
            (family,),
        )
        .await?;
        Ok(())
    }

    async fn family(&self, family: &str) -> Result<Option<RefreshFamily>> {
        type Row = (Option<String>, Option<String>, Option<i64>, Option<bool>);
        let row: Option<Row> = self
            .first_row(
                "reading a refresh family",
                &self.st.select_family,
                (family,),
            )
            .await?;
        match row {
            None | Some((None, None, None, None)) => Ok(None),
            Some((Some(user), Some(hash), Some(expires), revoked)) => Ok(Some(RefreshFamily {
                family: family.to_owned(),
                user_id: user_id(&user)?,
                current_hash: hash,
                expires_ms: to_u64("expires_ms", expires)?,
                revoked: revoked.unwrap_or(false),
            })),
            Some(_) => Err(StoreError::Corrupt(format!(
                "refresh family {family:?} lacks fields"
            ))),
        }
    }
}

fn user_id(s: &str) -> Result<UserId> {
    UserId::new(s).map_err(|e| StoreError::Corrupt(format!("bad user id {s:?}: {e}")))
}
