//! The rate limit's arithmetic, shared by the in-process backend and
//! mirrored by the Redis Lua script: GCRA over microseconds. The state is
//! one number, the theoretical arrival time (TAT); a bucket whose TAT is
//! in the past is full, so state can be dropped once `tat <= now`.

/// Microseconds between two tokens (at least 1).
pub(crate) fn interval_us(per_second: u32) -> u64 {
    (1_000_000 / u64::from(per_second.max(1))).max(1)
}

/// Given the stored TAT (if any), decides one request: the new TAT if
/// allowed, `None` if not (state unchanged).
pub(crate) fn decide(tat: Option<u64>, now_us: u64, interval_us: u64, burst: u32) -> Option<u64> {
    let tat = tat.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval_us;
    (new_tat - now_us <= interval_us * u64::from(burst)).then_some(new_tat)
}
