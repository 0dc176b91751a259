//! Counting open connections per client IP address, with a cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Open connections per client address, at most `limit` each. Addresses
/// with none open are forgotten, so the map holds only addresses with an
/// open connection.
#[derive(Debug)]
pub struct PerIpLimit {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIpLimit {
    pub fn new(limit: usize) -> Arc<PerIpLimit> {
        Arc::new(PerIpLimit {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more connection from `ip`, or `None` if `ip` already has
    /// `limit` open. The slot is freed when the guard is dropped.
    /// IPv4-mapped IPv6 addresses count as their IPv4 address.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<PerIpGuard> {
        let ip = ip.to_canonical();
        let mut open = self.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            if *n == 0 {
                open.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(PerIpGuard {
            owner: self.clone(),
            ip,
        })
    }

    /// Open connections from `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.lock().get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// Addresses with at least one open connection.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The map is consistent after every statement that changes it, so a
        // panic elsewhere while it was locked leaves nothing to repair.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection counted in a [`PerIpLimit`], until dropped.
#[derive(Debug)]
pub struct PerIpGuard {
    owner: Arc<PerIpLimit>,
    ip: IpAddr,
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut open = self.owner.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_address_and_forgets_idle_ones() {
        let limit = PerIpLimit::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = limit.try_acquire(a).expect("first");
        let a2 = limit.try_acquire(a).expect("second");
        assert!(limit.try_acquire(a).is_none());
        // The IPv4-mapped form is the same address.
        assert!(
            limit
                .try_acquire("::ffff:127.0.0.1".parse().unwrap())
                .is_none()
        );
        let b1 = limit.try_acquire(b).expect("another address");
        assert_eq!(limit.count(a), 2);
        assert_eq!(limit.addresses(), 2);
        drop(a1);
        let a3 = limit.try_acquire(a).expect("a slot was freed");
        drop((a2, a3, b1));
        assert_eq!(limit.addresses(), 0);
    }

    #[test]
    fn a_zero_limit_refuses_everyone_and_keeps_nothing() {
        let limit = PerIpLimit::new(0);
        assert!(limit.try_acquire("10.0.0.1".parse().unwrap()).is_none());
        assert_eq!(limit.addresses(), 0);
    }
}
