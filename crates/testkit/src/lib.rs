//! Helpers for liveshop's tests, shared so each lives once: a real
//! `redis-server` started by the test itself ([`redis_server`]). Test-only:
//! no crate depends on it outside `[dev-dependencies]`.

pub mod redis_server;
