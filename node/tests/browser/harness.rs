//! What the browser tests stand on: a `liveshop` node on a port of our
//! choosing (so a restart keeps the address the pages talk to), a
//! chromedriver on a free loopback port, and headless Chromium sessions,
//! each with a fresh profile. Every process is stopped when its guard is
//! dropped, also when a test fails, and every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The longest any one step (a page to show something) may take.
pub const STEP: Duration = Duration::from_secs(20);
/// Phone and desktop viewports of the screenshots.
pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 800);

/// Why the browser tests cannot run here, if they cannot.
pub fn tools_missing() -> Option<String> {
    let found = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let missing: Vec<&str> = ["chromium", "chromedriver"]
        .into_iter()
        .filter(|t| !found(t))
        .collect();
    (!missing.is_empty()).then(|| format!("missing {}", missing.join(", ")))
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts on `port`, at most `limit`.
fn wait_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A `liveshop` node process on `127.0.0.1:port`.
pub struct NodeProc {
    child: Child,
    pub addr: SocketAddr,
}

impl NodeProc {
    /// Starts the node on `data_dir` and `port` and waits until it serves.
    /// Sign-ups are not rate limited (one address signs up every user).
    pub fn start(data_dir: &Path, port: u16) -> NodeProc {
        Self::start_with(data_dir, port, "")
    }

    /// The same with `extra` top-level configuration keys (TOML).
    pub fn start_with(data_dir: &Path, port: u16, extra: &str) -> NodeProc {
        let config = data_dir.with_extension("toml");
        std::fs::write(
            &config,
            format!("{extra}\n[rate_limits]\nauth = {{ per_second = 100000, burst = 100000 }}\n"),
        )
        .expect("write the node's config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_liveshop"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("LIVESHOP_")) {
            command.env_remove(key);
        }
        let mut child = command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--config")
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn liveshop");
        let stdout = child.stdout.take().expect("the node's stdout");
        // Read the address line on a thread, so a node that never prints it
        // fails the test after STEP instead of hanging it.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on http://") {
                    let _ = tx.send(());
                }
            }
        });
        let mut node = NodeProc {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        if rx.recv_timeout(STEP).is_err() {
            node.kill();
            panic!("liveshop did not start on port {port} within {STEP:?}");
        }
        node
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL, at once: what a crash looks like to the pages.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// chromedriver on a free loopback port, in its own process group so the
/// browsers it started go with it.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Driver {
    pub fn start(log: &Path) -> Driver {
        let port = free_port();
        let log = std::fs::File::create(log).expect("chromedriver log");
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn chromedriver");
        let mut driver = Driver { child, port };
        if !wait_port(port, STEP) {
            driver.stop();
            panic!("chromedriver did not listen on {port} within {STEP:?}");
        }
        driver
    }

    fn stop(&mut self) {
        // The whole group: chromedriver and every Chromium it launched.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One headless Chromium with its own profile, phone-sized, on `base`.
pub struct Browser {
    pub client: Client,
    pub name: String,
    base: String,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(driver: &Driver, base: &str, name: &str) -> Browser {
        let profile = tempfile::tempdir().expect("a profile dir");
        let binary = Path::new("/usr/lib/chromium/chromium");
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                format!("--window-size={},{}", PHONE.0, PHONE.1),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        // Debian's /usr/bin/chromium is a shell wrapper; the real binary
        // takes the flags as they are.
        if binary.exists() {
            options["binary"] = json!(binary);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let webdriver = format!("http://127.0.0.1:{}", driver.port);
        let connect = builder.connect(&webdriver);
        let client = match tokio::time::timeout(STEP, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("{name}: no browser session: {e}"),
            Err(_) => panic!("{name}: no browser session within {STEP:?}"),
        };
        let timeouts = TimeoutConfiguration::new(Some(STEP), Some(STEP), Some(Duration::ZERO));
        client
            .update_timeouts(timeouts)
            .await
            .expect("set timeouts");
        // --window-size is not always honoured under chromedriver.
        let _ = client.set_window_size(PHONE.0, PHONE.1).await;
        Browser {
            client,
            name: name.to_owned(),
            base: base.to_owned(),
            shots: screenshot_dir(),
            _profile: profile,
        }
    }

    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.expect("navigate");
    }

    /// `document.querySelector(css)` as `{text, shown, disabled}` (Null if absent).
    pub async fn probe(&self, css: &str) -> Value {
        let script = "const e = document.querySelector(arguments[0]);\
            if (!e) return null;\
            const shown = !e.closest('[hidden]') && e.getClientRects().length > 0;\
            return {text: e.textContent.trim(), value: e.value ?? null, shown, disabled: !!e.disabled};";
        self.client
            .execute(script, vec![json!(css)])
            .await
            .unwrap_or(Value::Null)
    }

    /// Waits until `css` is shown and its text satisfies `ok`; returns the text.
    pub async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let p = self.probe(css).await;
            let text = p["text"].as_str().unwrap_or_default().to_owned();
            if p["shown"] == true && ok(&text) {
                return text;
            }
            if Instant::now() > deadline {
                self.shot(&format!("failed-{}", slug(what))).await;
                panic!(
                    "{}: {what}: `{css}` is {p}\nthe page's connection steps:\n{}",
                    self.name,
                    self.trace().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Accepts the page's `confirm` dialog once it is open.
    pub async fn accept_dialog(&self, what: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            match self.client.accept_alert().await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("{}: no dialog for {what}: {e}", self.name)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until `css` is shown (and enabled), then clicks it.
    pub async fn click(&self, css: &str) {
        self.wait_until(css, "clickable", |p| {
            p["shown"] == true && p["disabled"] == false
        })
        .await;
        let el = self.client.find(Locator::Css(css)).await.expect("find");
        el.click()
            .await
            .unwrap_or_else(|e| panic!("{}: click {css}: {e}", self.name));
    }

    /// Clicks the element `xpath` names (for "the Pin button of lot X").
    pub async fn click_xpath(&self, xpath: &str) {
        let el = self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("{}: no {xpath}: {e}", self.name));
        el.click()
            .await
            .unwrap_or_else(|e| panic!("{}: click {xpath}: {e}", self.name));
    }

    /// Replaces the value of the input `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.wait_until(css, "editable", |p| {
            p["shown"] == true && p["disabled"] == false
        })
        .await;
        let el = self.client.find(Locator::Css(css)).await.expect("find");
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Waits until `css` passes `ok` (see `probe`).
    pub async fn wait_until(&self, css: &str, what: &str, ok: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + STEP;
        loop {
            let p = self.probe(css).await;
            if ok(&p) {
                return;
            }
            if Instant::now() > deadline {
                self.shot(&format!("failed-{}", slug(what))).await;
                panic!(
                    "{}: `{css}` never {what}: {p}\nthe page's connection steps:\n{}",
                    self.name,
                    self.trace().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fills the open sign-in dialog and creates an account.
    pub async fn sign_up(&self, username: &str, role: &str) {
        self.wait_until("dialog.auth-dialog", "open", |p| p["shown"] == true)
            .await;
        self.fill("#auth-username", username).await;
        self.fill("#auth-password", "correct horse battery").await;
        self.click(&format!("input[name=role][value={role}]")).await;
        self.click("#auth-register").await;
        self.wait_until("dialog.auth-dialog", "closed", |p| p["shown"] != true)
            .await;
        self.wait_text("#logout", "signed in", |t| t == "Log out")
            .await;
    }

    /// Saves the page as `<name>-phone.png` and `<name>-desktop.png` under
    /// target/screenshots/.
    pub async fn shots(&self, name: &str) {
        let _ = self.client.execute("window.scrollTo(0, 0)", vec![]).await;
        self.shot(&format!("{name}-phone")).await;
        let _ = self.client.set_window_size(DESKTOP.0, DESKTOP.1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.shot(&format!("{name}-desktop")).await;
        let _ = self.client.set_window_size(PHONE.0, PHONE.1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// The page's `window.liveshopTrace` (live.js), one step a line.
    async fn trace(&self) -> String {
        let steps = self
            .client
            .execute("return window.liveshopTrace || [];", vec![])
            .await
            .unwrap_or(Value::Null);
        match steps.as_array() {
            Some(steps) => steps
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            None => format!("(none: {steps})"),
        }
    }

    async fn shot(&self, name: &str) {
        let Ok(png) = self.client.screenshot().await else {
            return;
        };
        let _ = std::fs::create_dir_all(&self.shots);
        let path = self.shots.join(format!("{name}.png"));
        if let Err(e) = std::fs::write(&path, png) {
            eprintln!("{}: cannot save {}: {e}", self.name, path.display());
        }
    }

    /// Ends the session (the browser exits); the driver's guard covers
    /// the cases where this is never reached.
    pub async fn close(self) {
        let _ = tokio::time::timeout(STEP, self.client.close()).await;
    }
}

/// Removes the `failed-*.png` of earlier runs, so what is left after a run
/// is this run's.
pub fn clear_failed_shots() {
    let Ok(entries) = std::fs::read_dir(screenshot_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("failed-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// target/screenshots (or under CARGO_TARGET_DIR).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
