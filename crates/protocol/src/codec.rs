//! The two WebSocket encodings and frame batching.
//!
//! - JSON (`liveshop.v1.json`, text frames): a server frame is one or more
//!   compact JSON objects joined by `\n` (compact JSON never contains a raw
//!   newline, so splitting on it is exact).
//! - MessagePack (`liveshop.v1.msgpack`, binary frames): the same objects as
//!   MessagePack maps keyed by field name (`rmp_serde::encode::write_named`),
//!   a server frame being the values concatenated.
//!
//! A client frame carries exactly one message. Decoding never panics: every
//! failure is a [`DecodeError`], and [`Codec::decode_client`] also recovers
//! the `rid` when it can, so the `bad_request` reply can echo it.
//!
//! MessagePack notes (rmp-serde): [`crate::ClientMessage`] uses
//! `#[serde(flatten)]` and the message enums are internally tagged, so serde
//! buffers maps before picking a variant. That works for every type here
//! because all of them are strings, integers, booleans, sequences and maps
//! (serde's buffer loses `is_human_readable`, which would matter only for types
//! that encode differently in binary formats; there are none). The tests in
//! `tests/roundtrip.rs` encode and decode every variant to keep it so.

use std::fmt::Display;
use std::io::Cursor;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ErrorCode;
use crate::ids::RequestId;
use crate::ws::{ClientMessage, ServerMessage};

/// WebSocket subprotocol for JSON text frames (the default).
pub const SUBPROTOCOL_JSON: &str = "liveshop.v1.json";
/// WebSocket subprotocol for MessagePack binary frames.
pub const SUBPROTOCOL_MSGPACK: &str = "liveshop.v1.msgpack";

/// Largest client frame a node accepts, in bytes. The gateway sets its
/// WebSocket message limit to this and closes the connection with 1009 on a
/// larger frame; [`Codec::decode_client`] checks it again. The largest
/// legitimate client message is a 500-character chat line (at most 2 KiB of
/// UTF-8), so 64 KiB is generous while bounding what one frame can cost.
/// Server frames have no such limit: a snapshot of a busy room may be larger.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Deepest MessagePack nesting decoding follows. Real messages nest fewer
/// than 8 levels; the limit keeps hostile input from exhausting the stack
/// (rmp-serde's own default is 1024). JSON has serde_json's limit of 128.
const MAX_MSGPACK_DEPTH: usize = 32;

/// Longest error message put in a reply: serde messages may quote input.
const MAX_ERROR_CHARS: usize = 200;

/// Why a frame could not be turned into a message. Its `Display` is the
/// message of the `error` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is {len} bytes, over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge { len: usize },
    /// Not parseable as a message: bad syntax, wrong types, unknown `type`.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Parsed, but a field is out of the contract's range.
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("a client frame must carry exactly one message")]
    TrailingBytes,
}

impl DecodeError {
    /// The reply code. `TooLarge` is `payload_too_large`; the gateway normally
    /// closes with 1009 before it gets that far.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::BadRequest,
        }
    }

    fn malformed(e: impl Display) -> Self {
        DecodeError::Malformed(truncate(e.to_string()))
    }
}

/// A client frame that was not accepted, with the `rid` if one could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Rejected {
    pub rid: Option<RequestId>,
    pub error: DecodeError,
}

impl Rejected {
    /// The `error` reply to send back; the connection stays open.
    pub fn reply(&self) -> ServerMessage {
        ServerMessage::error(self.rid.clone(), self.error.code(), self.error.to_string())
    }
}

/// Serialisation failed. With the types of this crate it does not happen;
/// the type exists so callers need not unwrap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(String);

/// The encoding a connection negotiated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    #[default]
    Json,
    MsgPack,
}

impl Codec {
    /// The codec for one subprotocol name offered by a client, if known.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        match name.trim() {
            SUBPROTOCOL_JSON => Some(Codec::Json),
            SUBPROTOCOL_MSGPACK => Some(Codec::MsgPack),
            _ => None,
        }
    }

    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => SUBPROTOCOL_JSON,
            Codec::MsgPack => SUBPROTOCOL_MSGPACK,
        }
    }

    /// Binary frames (MessagePack) rather than text frames (JSON).
    pub fn is_binary(self) -> bool {
        self == Codec::MsgPack
    }

    /// Decodes and validates one client frame.
    pub fn decode_client(self, frame: &[u8]) -> Result<ClientMessage, Rejected> {
        if frame.len() > MAX_FRAME_BYTES {
            return Err(Rejected {
                rid: None,
                error: DecodeError::TooLarge { len: frame.len() },
            });
        }
        let msg = match self.decode_one::<ClientMessage>(frame) {
            Ok(msg) => msg,
            Err(error) => {
                return Err(Rejected {
                    rid: self.probe_rid(frame),
                    error,
                });
            }
        };
        match msg.request.validate() {
            Ok(()) => Ok(msg),
            Err(why) => Err(Rejected {
                rid: msg.rid,
                error: DecodeError::Invalid(why),
            }),
        }
    }

    /// Encodes one client message (for clients and tests).
    pub fn encode_client(self, msg: &ClientMessage) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.append(&mut out, msg)?;
        Ok(out)
    }

    /// Encodes one server message as a frame of its own.
    pub fn encode_server(self, msg: &ServerMessage) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.append(&mut out, msg)?;
        Ok(out)
    }

    /// Appends `msg` to a batch frame being built in `out`, adding the JSON
    /// line separator when `out` already holds a message. On error `out` is
    /// left as it was, so the batch stays valid.
    pub fn append_server(self, out: &mut Vec<u8>, msg: &ServerMessage) -> Result<(), EncodeError> {
        self.append(out, msg)
    }

    /// Encodes several server messages into one frame, in order.
    pub fn encode_batch(self, msgs: &[ServerMessage]) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        for msg in msgs {
            self.append(&mut out, msg)?;
        }
        Ok(out)
    }

    /// Decodes a server frame holding one or more messages (for clients and
    /// tests). Blank JSON lines are skipped.
    pub fn decode_batch(self, frame: &[u8]) -> Result<Vec<ServerMessage>, DecodeError> {
        let mut msgs = Vec::new();
        match self {
            Codec::Json => {
                for line in frame.split(|&b| b == b'\n') {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    msgs.push(serde_json::from_slice(line).map_err(DecodeError::malformed)?);
                }
            }
            Codec::MsgPack => {
                let mut rest = frame;
                while !rest.is_empty() {
                    let (msg, used) = msgpack_prefix(rest).map_err(DecodeError::malformed)?;
                    msgs.push(msg);
                    rest = rest.get(used..).unwrap_or_default();
                }
            }
        }
        Ok(msgs)
    }

    /// Decodes a server frame that must hold exactly one message.
    pub fn decode_server(self, frame: &[u8]) -> Result<ServerMessage, DecodeError> {
        self.decode_one(frame)
    }

    fn decode_one<T: DeserializeOwned>(self, frame: &[u8]) -> Result<T, DecodeError> {
        match self {
            Codec::Json => serde_json::from_slice(frame).map_err(DecodeError::malformed),
            Codec::MsgPack => {
                let (msg, used) = msgpack_prefix(frame).map_err(DecodeError::malformed)?;
                if used != frame.len() {
                    return Err(DecodeError::TrailingBytes);
                }
                Ok(msg)
            }
        }
    }

    fn append<T: Serialize>(self, out: &mut Vec<u8>, msg: &T) -> Result<(), EncodeError> {
        let start = out.len();
        let result = match self {
            Codec::Json => {
                if start > 0 {
                    out.push(b'\n');
                }
                serde_json::to_writer(&mut *out, msg).map_err(|e| EncodeError(e.to_string()))
            }
            Codec::MsgPack => {
                rmp_serde::encode::write_named(out, msg).map_err(|e| EncodeError(e.to_string()))
            }
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Reads `rid` from a frame that failed to decode, as far as the frame
    /// can be read: a syntax error after the `rid` still yields it.
    fn probe_rid(self, frame: &[u8]) -> Option<RequestId> {
        let mut rid = None;
        let probe = RidProbe { rid: &mut rid };
        // The probe's own result does not matter, only what it stored.
        let _ = match self {
            Codec::Json => probe
                .deserialize(&mut serde_json::Deserializer::from_slice(frame))
                .map_err(|_| ()),
            Codec::MsgPack => probe
                .deserialize(&mut msgpack_deserializer(frame))
                .map_err(|_| ()),
        };
        rid
    }
}

fn msgpack_deserializer(
    bytes: &[u8],
) -> rmp_serde::Deserializer<rmp_serde::decode::ReadReader<Cursor<&[u8]>>> {
    let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
    de.set_max_depth(MAX_MSGPACK_DEPTH);
    de
}

/// Decodes the first MessagePack value of `bytes`; returns it and its length.
fn msgpack_prefix<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), rmp_serde::decode::Error> {
    let mut de = msgpack_deserializer(bytes);
    let value = T::deserialize(&mut de)?;
    let used = usize::try_from(de.position()).unwrap_or(usize::MAX);
    Ok((value, used))
}

fn truncate(mut s: String) -> String {
    if let Some((cut, _)) = s.char_indices().nth(MAX_ERROR_CHARS) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Walks the top-level map of a frame and stores the first valid `rid` it
/// meets, skipping every other value.
struct RidProbe<'a> {
    rid: &'a mut Option<RequestId>,
}

impl<'de> DeserializeSeed<'de> for RidProbe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RidProbe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            if key.is_rid {
                // An unreadable rid is as good as none.
                if let Ok(rid) = map.next_value::<RequestId>() {
                    *self.rid = Some(rid);
                }
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// A map key, reduced to whether it is `"rid"`.
struct Key {
    is_rid: bool,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(Key { is_rid: s == "rid" })
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Key, E> {
                Ok(Key {
                    is_rid: b == b"rid",
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_names_map_to_codecs() {
        assert_eq!(
            Codec::from_subprotocol("liveshop.v1.json"),
            Some(Codec::Json)
        );
        assert_eq!(
            Codec::from_subprotocol(" liveshop.v1.msgpack"),
            Some(Codec::MsgPack)
        );
        assert_eq!(Codec::from_subprotocol("liveshop.v2.json"), None);
        for c in [Codec::Json, Codec::MsgPack] {
            assert_eq!(Codec::from_subprotocol(c.subprotocol()), Some(c));
        }
    }

    #[test]
    fn long_error_messages_are_cut_on_a_char_boundary() {
        let s = truncate("é".repeat(MAX_ERROR_CHARS * 2));
        assert_eq!(s.chars().count(), MAX_ERROR_CHARS + 1);
        assert_eq!(truncate("short".into()), "short");
    }
}
