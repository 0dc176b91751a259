//! Building outbound frames: several server messages in one frame (JSON
//! lines, or concatenated MessagePack values), reusing the frame a room
//! event batch was encoded into once for every connection, and dropping the
//! events a connection has already delivered.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use liveshop_actors::EventBatch;
use liveshop_protocol::{Codec, RoomId, ServerMessage};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::metrics::WS_MESSAGES_OUT;

/// Per joined room, the last `seq` this connection delivered (or the seq of
/// the snapshot it was sent).
pub type Delivered = HashMap<RoomId, u64>;

/// One outbound frame being assembled.
#[derive(Debug)]
pub struct FrameBuf {
    codec: Codec,
    parts: Vec<Bytes>,
    len: usize,
    /// Messages in the frame (for metrics).
    messages: usize,
}

impl FrameBuf {
    pub fn new(codec: Codec) -> FrameBuf {
        FrameBuf {
            codec,
            parts: Vec::new(),
            len: 0,
            messages: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Appends an already encoded frame of `count` messages.
    fn push_encoded(&mut self, bytes: Bytes, count: usize) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.parts.push(bytes);
        self.messages += count;
    }

    /// Appends one message. A message that cannot be encoded (which the
    /// protocol's types rule out) is logged and skipped.
    pub fn push(&mut self, msg: &ServerMessage) {
        match self.codec.encode_server(msg) {
            Ok(bytes) => {
                metrics::counter!(WS_MESSAGES_OUT, "type" => msg.kind_name()).increment(1);
                self.push_encoded(Bytes::from(bytes), 1);
            }
            Err(e) => tracing::error!("cannot encode a {} message: {e}", msg.kind_name()),
        }
    }

    /// Appends the events of `batch` this connection has not delivered yet,
    /// and records them as delivered. Events of rooms the connection has not
    /// joined (or left) are dropped. When every event is new, the batch's
    /// shared frame is used as is.
    pub fn push_events(&mut self, batch: &EventBatch, delivered: &mut Delivered) -> usize {
        let Some(last) = delivered.get_mut(&batch.room) else {
            return 0;
        };
        let fresh = batch.events.iter().filter(|e| e.seq > *last).count();
        if fresh == 0 {
            return 0;
        }
        if fresh == batch.events.len() && is_ascending(batch) {
            self.push_encoded(batch.frame(self.codec), fresh);
        } else {
            let mut seen = *last;
            for e in &batch.events {
                if e.seq > seen {
                    seen = e.seq;
                    let msg = ServerMessage::event(batch.room.clone(), e.seq, e.event.clone());
                    match self.codec.encode_server(&msg) {
                        Ok(bytes) => self.push_encoded(Bytes::from(bytes), 1),
                        Err(e) => tracing::error!("cannot encode an event: {e}"),
                    }
                }
            }
        }
        metrics::counter!(WS_MESSAGES_OUT, "type" => "event").increment(fresh as u64);
        if let Some(max) = batch.events.iter().map(|e| e.seq).max() {
            *last = (*last).max(max);
        }
        fresh
    }

    /// The frame as one WebSocket message: text for JSON, binary for
    /// MessagePack. `None` when empty.
    pub fn into_message(self) -> Option<Message> {
        if self.parts.is_empty() {
            return None;
        }
        let json = self.codec == Codec::Json;
        let bytes = if self.parts.len() == 1 {
            self.parts.into_iter().next().unwrap_or_default()
        } else {
            let mut buf = BytesMut::with_capacity(self.len + self.parts.len());
            for (i, part) in self.parts.iter().enumerate() {
                if json && i > 0 {
                    buf.extend_from_slice(b"\n");
                }
                buf.extend_from_slice(part);
            }
            buf.freeze()
        };
        if json {
            match Utf8Bytes::try_from(bytes) {
                Ok(text) => Some(Message::Text(text)),
                Err(e) => {
                    tracing::error!("an encoded JSON frame is not UTF-8: {e}");
                    None
                }
            }
        } else {
            Some(Message::Binary(bytes))
        }
    }
}

fn is_ascending(batch: &EventBatch) -> bool {
    batch.events.windows(2).all(|w| w[0].seq < w[1].seq)
}

#[cfg(test)]
mod tests {
    use liveshop_domain::Sequenced;
    use liveshop_protocol::{ErrorCode, Notice, Reply, RoomEvent};

    use super::*;

    fn room() -> RoomId {
        RoomId::new("r1").unwrap()
    }

    fn hearts(seq: u64) -> Sequenced {
        Sequenced {
            seq,
            event: RoomEvent::Hearts { count: seq },
        }
    }

    fn decode(codec: Codec, msg: Message) -> Vec<ServerMessage> {
        let data = match msg {
            Message::Text(t) => Bytes::from(t),
            Message::Binary(b) => b,
            other => panic!("unexpected {other:?}"),
        };
        codec.decode_batch(&data).unwrap()
    }

    fn seqs(msgs: &[ServerMessage]) -> Vec<u64> {
        msgs.iter()
            .filter_map(|m| match m {
                ServerMessage::Event(e) => Some(e.seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn several_messages_share_one_frame_in_both_codecs() {
        for codec in [Codec::Json, Codec::MsgPack] {
            let mut f = FrameBuf::new(codec);
            f.push(&ServerMessage::ok(Reply::empty(None)));
            f.push(&ServerMessage::notice(Notice::Lagged));
            f.push(&ServerMessage::error(None, ErrorCode::BadRequest, "x"));
            assert_eq!(f.messages(), 3);
            let msg = f.into_message().unwrap();
            assert_eq!(matches!(msg, Message::Binary(_)), codec.is_binary());
            let msgs = decode(codec, msg);
            assert_eq!(msgs.len(), 3);
            assert_eq!(msgs[1], ServerMessage::notice(Notice::Lagged));
        }
        assert!(FrameBuf::new(Codec::Json).into_message().is_none());
    }

    #[test]
    fn events_already_delivered_are_dropped() {
        // A batch that straddles what was delivered is re-encoded event by
        // event, without the shared frame (so this runs without one).
        let mut delivered = Delivered::new();
        delivered.insert(room(), 5);
        let batch = EventBatch::new(room(), vec![hearts(4), hearts(5), hearts(6), hearts(7)]);
        let mut f = FrameBuf::new(Codec::Json);
        assert_eq!(f.push_events(&batch, &mut delivered), 2);
        assert_eq!(delivered[&room()], 7);
        assert_eq!(
            seqs(&decode(Codec::Json, f.into_message().unwrap())),
            vec![6, 7]
        );

        let mut f = FrameBuf::new(Codec::Json);
        assert_eq!(f.push_events(&batch, &mut delivered), 0, "all seen");
        assert!(f.is_empty());
    }

    #[test]
    fn events_of_rooms_not_joined_are_dropped() {
        let mut delivered = Delivered::new();
        let batch = EventBatch::new(room(), vec![hearts(1)]);
        let mut f = FrameBuf::new(Codec::MsgPack);
        assert_eq!(f.push_events(&batch, &mut delivered), 0);
        assert!(f.is_empty());
    }

    #[test]
    fn a_fully_new_batch_uses_its_shared_frame() {
        let mut delivered = Delivered::new();
        delivered.insert(room(), 0);
        let batch = EventBatch::new(room(), vec![hearts(1), hearts(2)]);
        let mut f = FrameBuf::new(Codec::MsgPack);
        f.push(&ServerMessage::notice(Notice::Lagged));
        assert_eq!(f.push_events(&batch, &mut delivered), 2);
        let msgs = decode(Codec::MsgPack, f.into_message().unwrap());
        assert_eq!(msgs.len(), 3);
        assert_eq!(seqs(&msgs), vec![1, 2]);
    }
}
