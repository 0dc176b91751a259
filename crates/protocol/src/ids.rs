//! Opaque identifiers.
//!
//! Every id on the wire is a non-empty string of at most [`MAX_ID_LEN`] bytes
//! made of printable ASCII without spaces. Decoding checks this, so a value of
//! one of these types is always valid and can be used as a storage key as is.
//!
//! Ids made by a lot itself (holds, orders, raffle entries) embed the lot id
//! (`<lot>:h<n>`, `<lot>:o<n>`, `<lot>:e<n>`): they are deterministic, so replaying a
//! lot's events gives the same ids, and a request that names only a hold can be
//! routed to the lot that owns it ([`HoldId::lot`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id accepted, in bytes (PROTOCOL.md: "at most 64 bytes").
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    #[error("id may only contain printable ASCII without spaces")]
    BadChar,
}

/// Checks the rules shared by every id.
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::BadChar);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A registered user (buyer or seller).
    UserId
);
id_type!(
    /// A live room.
    RoomId
);
id_type!(
    /// A product lot: an auction or a sale.
    LotId
);
id_type!(
    /// A stock hold on a sale lot; `<lot>:h<n>`.
    HoldId
);
id_type!(
    /// An order; `<lot>:o<n>`.
    OrderId
);
id_type!(
    /// A raffle entry; `<lot>:e<n>`.
    EntryId
);
id_type!(
    /// A client-chosen request id, echoed in the reply.
    RequestId
);
id_type!(
    /// A client-chosen idempotency key for `checkout`.
    IdemKey
);

/// Longest lot id that still leaves room for a child id suffix (`:h` + 20 digits).
pub const MAX_LOT_ID_LEN: usize = MAX_ID_LEN - 22;

fn child_id(lot: &LotId, tag: char, n: u64) -> String {
    format!("{}:{}{}", lot.as_str(), tag, n)
}

fn parent_lot(id: &str, tag: char) -> Option<LotId> {
    let (lot, rest) = id.rsplit_once(':')?;
    let digits = rest.strip_prefix(tag)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    LotId::new(lot).ok()
}

impl LotId {
    /// Checks `s` like [`LotId::new`] and also that it leaves room for child ids.
    pub fn new_for_lot(s: impl Into<String>) -> Result<Self, IdError> {
        let id = Self::new(s)?;
        if id.0.len() > MAX_LOT_ID_LEN {
            return Err(IdError::TooLong);
        }
        Ok(id)
    }
}

impl HoldId {
    /// The `n`-th hold of `lot`. `lot` must satisfy [`LotId::new_for_lot`].
    pub fn for_lot(lot: &LotId, n: u64) -> Self {
        Self(child_id(lot, 'h', n))
    }

    /// The lot this hold belongs to, if the id has the shape lots give holds.
    pub fn lot(&self) -> Option<LotId> {
        parent_lot(&self.0, 'h')
    }
}

impl OrderId {
    /// The `n`-th order of `lot`.
    pub fn for_lot(lot: &LotId, n: u64) -> Self {
        Self(child_id(lot, 'o', n))
    }

    /// The lot this order was placed on.
    pub fn lot(&self) -> Option<LotId> {
        parent_lot(&self.0, 'o')
    }
}

impl EntryId {
    /// The `n`-th raffle entry of `lot`.
    pub fn for_lot(lot: &LotId, n: u64) -> Self {
        Self(child_id(lot, 'e', n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_long_and_odd_characters() {
        assert_eq!(UserId::new(""), Err(IdError::Empty));
        assert_eq!(UserId::new("x".repeat(65)), Err(IdError::TooLong));
        assert!(UserId::new("x".repeat(64)).is_ok());
        assert_eq!(UserId::new("a b"), Err(IdError::BadChar));
        assert_eq!(UserId::new("a\u{0}"), Err(IdError::BadChar));
        assert_eq!(UserId::new("é"), Err(IdError::BadChar));
    }

    #[test]
    fn hold_ids_name_their_lot() {
        let lot = LotId::new_for_lot("01JLOT").unwrap();
        let hold = HoldId::for_lot(&lot, 17);
        assert_eq!(hold.as_str(), "01JLOT:h17");
        assert_eq!(hold.lot(), Some(lot.clone()));
        assert_eq!(HoldId::new("nolot").unwrap().lot(), None);
        assert_eq!(HoldId::new("x:h").unwrap().lot(), None);
        assert_eq!(HoldId::new("x:o1").unwrap().lot(), None);
        assert_eq!(OrderId::for_lot(&lot, 3).lot(), Some(lot));
    }

    #[test]
    fn longest_lot_id_leaves_room_for_child_ids() {
        let lot = LotId::new_for_lot("L".repeat(MAX_LOT_ID_LEN)).unwrap();
        let hold = HoldId::for_lot(&lot, u64::MAX);
        assert!(HoldId::new(hold.as_str()).is_ok());
        assert!(LotId::new_for_lot("L".repeat(MAX_LOT_ID_LEN + 1)).is_err());
    }

    #[test]
    fn ids_decode_with_checks() {
        let ok: Result<LotId, _> = serde_json::from_str("\"abc\"");
        assert!(ok.is_ok());
        let bad: Result<LotId, _> = serde_json::from_str("\"\"");
        assert!(bad.is_err());
    }
}
