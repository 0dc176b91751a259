//! A real `redis-server` for tests, started by the test itself on a free
//! loopback port in a temporary directory and SIGKILLed when dropped. Tests
//! never use a Redis someone else started.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a test server persists.
#[derive(Debug, Clone, Copy)]
pub struct Persistence {
    pub appendonly: &'static str,
    pub appendfsync: &'static str,
}

/// What the Redis backend requires.
pub const DURABLE: Persistence = Persistence {
    appendonly: "yes",
    appendfsync: "always",
};

pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// Owned when the server made its own directory.
    _tmp: Option<tempfile::TempDir>,
}

/// `redis-server` on PATH, if installed.
pub fn redis_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// Starts a durable server in a fresh temp dir, or prints why not and
/// returns `None` (redis-server not installed).
pub fn start() -> Option<RedisServer> {
    start_with(DURABLE)
}

pub fn start_with(persistence: Persistence) -> Option<RedisServer> {
    let tmp = tempfile::tempdir().expect("temp dir for redis-server");
    let dir = tmp.path().to_path_buf();
    let mut server = start_in(&dir, persistence)?;
    server._tmp = Some(tmp);
    Some(server)
}

/// Starts a server whose AOF lives in `dir` (reusing what is there).
pub fn start_in(dir: &Path, persistence: Persistence) -> Option<RedisServer> {
    let Some(binary) = redis_server_binary() else {
        eprintln!("skipped: redis-server not installed");
        return None;
    };
    let mut last_err = String::new();
    // The port is free when we look, but another process may take it before
    // redis binds it: then try another.
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(&binary)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", &dir.display().to_string()])
            .args(["--appendonly", persistence.appendonly])
            .args(["--appendfsync", persistence.appendfsync])
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .args(["--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", binary.display()));
        match wait_for_ping(&mut child, port) {
            Ok(()) => {
                return Some(RedisServer {
                    child,
                    port,
                    dir: dir.to_path_buf(),
                    _tmp: None,
                });
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last_err = e;
            }
        }
    }
    panic!("redis-server did not come up: {last_err}");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn wait_for_ping(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server exited with {status}"));
        }
        if ping(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("no PONG within 20 s".into())
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        // Loading the AOF answers -LOADING; wait until it says PONG.
        Ok(n) => buf[..n].starts_with(b"+PONG"),
        Err(_) => false,
    }
}

impl RedisServer {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// SIGKILL: no shutdown, no final fsync, like a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
