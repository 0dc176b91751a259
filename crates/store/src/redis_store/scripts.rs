//! The Lua scripts that make each multi-key write atomic. Redis runs a
//! script to completion before any other command, so a check and the
//! writes it guards cannot interleave with another client's.
//!
//! Numbers that must be exact (epochs, seqs, timestamps) are passed and
//! compared as canonical decimal strings (`ge`), never through Lua's
//! doubles. Replies are arrays whose first element is a status word.

use redis::Script;

/// `a >= b` for canonical (no leading zero) unsigned decimal strings.
const GE: &str = r#"
local function ge(a, b)
  if #a ~= #b then return #a > #b end
  return a >= b
end
"#;

/// The epoch fence: `epoch` must be the log's claimed epoch (never 0).
const FENCE: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'epoch') or '0'
if cur == '0' or cur ~= ARGV[1] then return {'fenced', cur} end
local last = redis.call('HGET', KEYS[1], 'last') or '0'
"#;

/// KEYS: log meta hash, events list. ARGV: epoch, then (seq, payload) pairs.
/// Fence, seq continuity, then RPUSH the payloads and set `last`.
const APPEND: &str = r#"
local n = (#ARGV - 1) / 2
local base = tonumber(last)
for i = 1, n do
  local want = string.format('%d', base + i)
  if ARGV[2 * i] ~= want then return {'gap', want, ARGV[2 * i]} end
end
if n == 0 then return {'ok'} end
local chunk = {}
for i = 1, n do
  chunk[#chunk + 1] = ARGV[2 * i + 1]
  if #chunk == 500 or i == n then
    redis.call('RPUSH', KEYS[2], unpack(chunk))
    chunk = {}
  end
end
redis.call('HSET', KEYS[1], 'last', string.format('%d', base + n))
return {'ok'}
"#;

/// KEYS: log meta hash, snapshot key. ARGV: epoch, snapshot seq, value.
const SNAPSHOT: &str = r#"
if not ge(last, ARGV[2]) then return {'gap', last, ARGV[2]} end
redis.call('SET', KEYS[2], ARGV[3])
return {'ok'}
"#;

/// KEYS: record, unique index[, ordering zset]. ARGV: value, id[, score].
/// Returns 1 if the record exists, 2 if the index entry exists, else 0.
const CREATE_INDEXED: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if #KEYS >= 3 then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) end
return 0
"#;

/// KEYS: room record, the new key's index entry. ARGV: the room record as
/// read (compare-and-set: a concurrent change makes the caller read again),
/// the record with the new key, room id. The old key's entry is kept (it
/// stays reserved to the room). 0 ok, 1 no such room, 2 record changed,
/// 3 key taken.
const REPLACE_KEY: &str = r#"
local cur = redis.call('GET', KEYS[1])
if not cur then return 1 end
if cur ~= ARGV[1] then return 2 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 3 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 0
"#;

/// KEYS: record, ordering zset. ARGV: value, score, id. 1 if it exists.
const CREATE_LISTED: &str = r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 0
"#;

/// KEYS: family hash. ARGV: user_id, current_hash, expires_ms, revoked.
const CREATE_FAMILY: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'current_hash', ARGV[2],
  'expires_ms', ARGV[3], 'revoked', ARGV[4])
return 0
"#;

/// KEYS: family hash. ARGV: presented hash, next hash, expires_ms, now_ms.
const ROTATE: &str = r#"
local f = redis.call('HMGET', KEYS[1], 'user_id', 'current_hash', 'expires_ms', 'revoked')
if not f[1] then return {'unknown'} end
if f[4] == '1' or ge(ARGV[4], f[3]) then return {'revoked'} end
if f[2] ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return {'reused'}
end
redis.call('HSET', KEYS[1], 'current_hash', ARGV[2], 'expires_ms', ARGV[3])
return {'rotated', f[1]}
"#;

/// KEYS: family hash. Revokes it if it exists.
const REVOKE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'revoked', '1') end
return 0
"#;

/// KEYS: order, buyer's idem hash, buyer zset, seller zset.
/// ARGV: value, order id, idem key, has idem ('1'/'0'), created_ms,
/// order key prefix (to load the order an idem key points to).
const PUT_ORDER: &str = r#"
local v = redis.call('GET', KEYS[1])
if v then return {'existing', v} end
if ARGV[4] == '1' then
  local id = redis.call('HGET', KEYS[2], ARGV[3])
  if id then
    local o = redis.call('GET', ARGV[6] .. id)
    if not o then return {'corrupt', id} end
    return {'existing', o}
  end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
return {'created'}
"#;

/// KEYS: chat zset, chat counter. ARGV: at_ms, value, lines to keep.
/// Members are a 20-digit per-room counter then the line, so equal `at_ms`
/// sort in append order; the zset is trimmed to the newest `keep`.
const CHAT: &str = r#"
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[1], string.format('%020d', n) .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
return 0
"#;

/// Width of the counter in front of each chat member.
pub(super) const CHAT_ORDINAL_LEN: usize = 20;

/// The compiled scripts (each is sent by SHA, loaded on first use).
pub(super) struct Scripts {
    pub append: Script,
    pub snapshot: Script,
    pub create_indexed: Script,
    pub create_listed: Script,
    pub replace_key: Script,
    pub create_family: Script,
    pub rotate: Script,
    pub revoke: Script,
    pub put_order: Script,
    pub chat: Script,
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            append: Script::new(&format!("{FENCE}{APPEND}")),
            snapshot: Script::new(&format!("{GE}{FENCE}{SNAPSHOT}")),
            create_indexed: Script::new(CREATE_INDEXED),
            create_listed: Script::new(CREATE_LISTED),
            replace_key: Script::new(REPLACE_KEY),
            create_family: Script::new(CREATE_FAMILY),
            rotate: Script::new(&format!("{GE}{ROTATE}")),
            revoke: Script::new(REVOKE),
            put_order: Script::new(PUT_ORDER),
            chat: Script::new(CHAT),
        }
    }
}
