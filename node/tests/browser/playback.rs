//! A real stream on the room page: nginx with the RTMP module and ffmpeg
//! (common/rtmp.rs), the node's `public_url` on nginx's HLS port, and the
//! room page's `<video>` playing it (its clock advances), twice:
//!
//! - with hls.js, the page's first choice, served by the test's nginx from
//!   the copy scripts/hls-js.sh keeps in the local cache (the release the
//!   default `[web] hls_js_url` pins; no CDN is reached), loaded with the
//!   default `hls_js_integrity` (so that value is checked against the file);
//! - natively (Chromium plays HLS itself), when the same file comes with an
//!   integrity it does not match: the browser refuses to run it.
//!
//! The hls.js run then renews the stream key from the studio: the old key
//! is refused by nginx, the new one goes live.
//!
//! Without nginx, ffmpeg or the hls.js copy it fails unless
//! `LIVESHOP_VIDEO_OPTIONAL=1`, like node/tests/video.rs.

use std::path::PathBuf;

use super::*;

/// How the room page is to play the stream.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Player {
    HlsJs,
    /// hls.js refused: its integrity does not match.
    Native,
}

/// A well-formed integrity no file has.
const WRONG_INTEGRITY: &str =
    "sha384-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_plays_with_hls_js_on_the_room_page() {
    run(Player::HlsJs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_plays_natively_when_hls_js_is_refused() {
    run(Player::Native).await;
}

async fn run(player: Player) {
    if !chromium_here() {
        return;
    }
    if !rtmp::tools_here() {
        return;
    }
    let Some(hls_js) = hls_js_copy() else {
        return;
    };
    let started = Instant::now();
    tokio::time::timeout(WHOLE, playback(player, hls_js))
        .await
        .unwrap_or_else(|_| panic!("the playback test took over {WHOLE:?}"));
    eprintln!("playback test ({player:?}) took {:?}", started.elapsed());
}

/// scripts/hls-js.sh's copy of the hls.js release the node's default URL
/// pins; `None` (skip) when it is missing and video tests are optional.
fn hls_js_copy() -> Option<PathBuf> {
    let url = liveshop_gateway::DEFAULT_HLS_JS_URL;
    let version = url
        .split("hls.js@")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no hls.js@<version> in {url}"));
    let cache = std::env::var_os("LIVESHOP_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("liveshop")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/liveshop")))
        .expect("HOME, XDG_CACHE_HOME or LIVESHOP_CACHE");
    let path = cache.join(format!("hls.js-{version}/hls.min.js"));
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "missing {} (scripts/hls-js.sh downloads hls.js {version})",
        path.display()
    );
    if std::env::var("LIVESHOP_VIDEO_OPTIONAL").as_deref() == Ok("1") {
        eprintln!("skipped: {why}");
        return None;
    }
    panic!("{why}; set LIVESHOP_VIDEO_OPTIONAL=1 to skip this test instead");
}

async fn playback(player: Player, hls_js: PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    // nginx's hooks need the node's address and the node's `public_url`
    // (rooms' `hls_url`) needs nginx's: the node's port is chosen first.
    let port = free_port();
    let nginx = rtmp::Nginx::start(
        &tmp.path().join("nginx"),
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    );
    let public_url = nginx.http_url("");
    // hls.js from nginx, with the default integrity or a wrong one.
    let vendor = nginx.dir.join("vendor");
    std::fs::create_dir_all(&vendor).expect("vendor dir");
    std::fs::copy(&hls_js, vendor.join("hls.min.js")).expect("copy hls.js");
    let hls_js_url = nginx.http_url("/vendor/hls.min.js");
    let integrity = match player {
        Player::HlsJs => liveshop_gateway::DEFAULT_HLS_JS_INTEGRITY,
        Player::Native => WRONG_INTEGRITY,
    };
    let node = NodeProc::start_with(
        &tmp.path().join("data"),
        port,
        &format!(
            "public_url = \"{public_url}\"\n[web]\nhls_js_url = \"{hls_js_url}\"\n\
             hls_js_integrity = \"{integrity}\""
        ),
    );
    let driver = Driver::start(&tmp.path().join("chromedriver.log"));

    let seller = Browser::open(&driver, &node.url(""), "seller").await;
    seller.goto("/studio").await;
    seller.click("#studio-login").await;
    seller.sign_up("video-seller", "seller").await;
    seller.fill("#room-title-input", "Live from the test").await;
    seller.click("#room-form button[type=submit]").await;
    let key = seller
        .wait_text("#stream-key", "a stream key", |t| {
            t.len() >= 16 && t != "hidden"
        })
        .await;
    let room = room_of(&seller).await;

    // The encoder: the studio sees it live.
    // Long enough for a slow first load on a busy CI machine (the player
    // waits longer after each start that makes no progress).
    let mut encoder = rtmp::push(&nginx.publish_url(&key), 90, &tmp.path().join("ffmpeg.log"));
    seller
        .wait_text("#encoder", "the encoder live", |t| t == "Encoder LIVE")
        .await;

    // A viewer: the video plays (its clock advances).
    let viewer = Browser::open(&driver, &node.url(""), "viewer").await;
    viewer.goto(&format!("/r/{room}")).await;
    viewer
        .wait_text("#live-badge", "the room live", |t| t == "LIVE")
        .await;
    let deadline = Instant::now() + Duration::from_secs(80);
    let mut first: Option<f64> = None;
    let mut seen = Value::Null;
    loop {
        seen = viewer
            .client
            .execute(
                "const v = document.getElementById('video'); \
                 return {t: v.currentTime, src: v.currentSrc, state: v.readyState, \
                         error: v.error && v.error.code, overlay: document.getElementById('video-state').hidden};",
                vec![],
            )
            .await
            .unwrap_or(seen);
        let t = seen["t"].as_f64().unwrap_or(0.0);
        match first {
            None if t > 0.0 => first = Some(t),
            Some(t0) if t > t0 + 1.0 => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the video did not play: {seen}\nHLS files: {:?}\nChromium's requests:\n{}\nffmpeg: {}\nnginx: {}",
            nginx.hls_files(),
            nginx.access_log(),
            std::fs::read_to_string(tmp.path().join("ffmpeg.log")).unwrap_or_default(),
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        seen["overlay"], true,
        "the 'not streaming' note is hidden: {seen}"
    );
    let src = seen["src"].as_str().unwrap_or_default();
    match player {
        // hls.js feeds the element through Media Source Extensions.
        Player::HlsJs => assert!(src.starts_with("blob:"), "not played by hls.js: {seen}"),
        Player::Native => {
            assert!(src.ends_with(".m3u8"), "not played natively: {seen}");
            // Fetched, then refused: not merely unreachable.
            assert!(
                nginx.access_log().contains("GET /vendor/hls.min.js"),
                "the page never fetched hls.js: {}",
                nginx.access_log()
            );
            let _ = encoder.start_kill();
            for b in [seller, viewer] {
                b.close().await;
            }
            return;
        }
    }

    // The whole room at once, for the screenshots: a pinned sale, chat and
    // hearts over the playing video.
    create_lot(&seller, "Vintage tee", Kind::Sale).await;
    pin_and_open(&seller, "Vintage tee").await;
    viewer
        .wait_text("#buy-button", "the sale", |t| t.starts_with("Buy"))
        .await;
    viewer.click("#login-open").await;
    viewer.sign_up("video-viewer", "buyer").await;
    for line in ["Is the tee cotton?", "Love the colours!"] {
        viewer.fill("#chat-input", line).await;
        viewer.click("#chat-form button[type=submit]").await;
        viewer
            .wait_text("#chat-list", "the chat line", |t| t.contains(line))
            .await;
    }
    seller
        .wait_text("#studio-chat-list", "the chat in the studio", |t| {
            t.contains("Love the colours!")
        })
        .await;
    // A viewer who comes later still sees what was said (the room's chat
    // history, which snapshots do not carry).
    let late = Browser::open(&driver, &node.url(""), "late-viewer").await;
    late.goto(&format!("/r/{room}")).await;
    late.wait_text("#chat-list", "the earlier chat", |t| {
        t.contains("Is the tee cotton?") && t.contains("Love the colours!")
    })
    .await;
    late.close().await;
    for _ in 0..5 {
        viewer.click("#heart-button").await;
    }
    viewer.shots("room-video").await;
    seller.shots("studio-live").await;

    // The encoder stops; the seller renews the key (confirming the
    // browser's dialog). The studio shows the new key, an encoder with the
    // old one is refused, and one with the new key goes live.
    let _ = encoder.start_kill();
    seller
        .wait_text("#encoder", "the encoder offline", |t| {
            t == "Encoder offline"
        })
        .await;
    seller.click("#rotate-key").await;
    seller.accept_dialog("the new key's confirmation").await;
    let renewed = seller
        .wait_text("#stream-key", "a new stream key", |t| {
            t.len() >= 16 && t != "hidden" && t != key
        })
        .await;
    let mut stale = rtmp::push(&nginx.publish_url(&key), 5, &tmp.path().join("old-key.log"));
    let status = rtmp::exit_within(&mut stale, STEP).await;
    assert!(!status.success(), "ffmpeg with the old key exited {status}");
    let mut encoder = rtmp::push(
        &nginx.publish_url(&renewed),
        30,
        &tmp.path().join("new-key.log"),
    );
    seller
        .wait_text("#encoder", "live on the new key", |t| t == "Encoder LIVE")
        .await;
    let _ = encoder.start_kill();
    for b in [seller, viewer] {
        b.close().await;
    }
    drop(driver);
    drop(node);
    drop(nginx);
}
