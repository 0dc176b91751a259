//! A real nginx with the RTMP module, and ffmpeg as the seller's encoder,
//! for the video end-to-end test (`node/tests/video.rs`). Debian's
//! packages `nginx libnginx-mod-rtmp ffmpeg` (scripts/video.sh installs
//! them). nginx runs in the foreground in its own process group on free
//! loopback ports, everything it writes under one temp dir, and is stopped
//! (the whole group) when dropped, so a failing test leaves nothing behind.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// nginx's dynamic RTMP module, as Debian's libnginx-mod-rtmp installs it.
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// Whether a video test can run: nginx with the RTMP module and ffmpeg
/// are here. Without them it fails, unless `LIVESHOP_VIDEO_OPTIONAL=1`
/// says to skip it (then it prints `skipped: ...` and the caller returns).
pub fn tools_here() -> bool {
    let Some(why) = tools_missing() else {
        return true;
    };
    if std::env::var("LIVESHOP_VIDEO_OPTIONAL").as_deref() == Ok("1") {
        eprintln!("skipped: {why}");
        return false;
    }
    panic!("{why}; set LIVESHOP_VIDEO_OPTIONAL=1 to skip this test instead");
}

/// Why the video test cannot run here, if it cannot.
pub fn tools_missing() -> Option<String> {
    let mut missing = Vec::new();
    for tool in ["nginx", "ffmpeg"] {
        let found = Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            missing.push(tool.to_owned());
        }
    }
    if !Path::new(RTMP_MODULE).exists() {
        missing.push(RTMP_MODULE.to_owned());
    }
    (!missing.is_empty()).then(|| {
        format!(
            "missing {} (install Debian's nginx libnginx-mod-rtmp ffmpeg: scripts/video.sh)",
            missing.join(", ")
        )
    })
}

/// A loopback port free right now (the OS picks it; released at once).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// nginx serving RTMP ingest and HLS on loopback, configured like
/// config/nginx-rtmp.conf (the same hooks, the push of the renamed stream
/// to an `hls` application), with its hooks pointed at `node`.
pub struct Nginx {
    child: Child,
    pub dir: PathBuf,
    pub rtmp_port: u16,
    pub http_port: u16,
}

impl Nginx {
    /// Starts nginx under `dir` and waits until both ports accept.
    pub fn start(dir: &Path, node: SocketAddr) -> Nginx {
        std::fs::create_dir_all(dir.join("hls")).expect("hls dir");
        std::fs::create_dir_all(dir.join("tmp")).expect("tmp dir");
        let (rtmp_port, http_port) = (free_port(), free_port());
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, node, rtmp_port, http_port)).expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own group: the workers are stopped with the master.
            .process_group(0)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            child,
            dir: dir.to_owned(),
            rtmp_port,
            http_port,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in [rtmp_port, http_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = nginx.child.try_wait() {
                    panic!("nginx exited ({status}): {}", nginx.error_log());
                }
                assert!(
                    Instant::now() < deadline,
                    "nginx did not listen on {port} in time: {}",
                    nginx.error_log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        nginx
    }

    /// Where an encoder pushes with `key`.
    pub fn publish_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    /// A URL of nginx's HTTP server (`/hls/...`).
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// What nginx's HTTP server answered (the players' requests).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("http-access.log")).unwrap_or_default()
    }

    /// The names of the files nginx wrote for HLS.
    pub fn hls_files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("hls"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the group (nginx's fast shutdown), then SIGKILL for
        // whatever is left after a few seconds.
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill")
                .args(["-s", sig, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration: config/nginx-rtmp.conf's shape on loopback ports
/// under `dir`, with a short update interval so the test sees updates.
fn config(dir: &Path, node: SocketAddr, rtmp_port: u16, http_port: u16) -> String {
    let dir = dir.display();
    format!(
        r#"load_module {RTMP_MODULE};
# The master runs as root under scripts/test.sh: the workers must be able
# to write the temp dir (ignored, with a warning, when not root).
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 256;
}}

rtmp {{
    access_log {dir}/rtmp-access.log;
    server {{
        listen 127.0.0.1:{rtmp_port};
        chunk_size 4096;

        application live {{
            live on;
            record off;
            deny play all;
            drop_idle_publisher 10s;
            notify_method post;
            on_publish http://{node}/media/on_publish;
            on_publish_done http://{node}/media/on_publish_done;
            on_update http://{node}/media/on_update;
            notify_update_timeout 1s;
            push rtmp://127.0.0.1:{rtmp_port}/hls;
        }}

        application hls {{
            live on;
            record off;
            allow publish 127.0.0.1;
            deny publish all;
            deny play all;
            hls on;
            hls_path {dir}/hls;
            hls_nested off;
            hls_fragment 1s;
            hls_playlist_length 4s;
            hls_cleanup on;
        }}
    }}
}}

http {{
    access_log {dir}/http-access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;

    server {{
        listen 127.0.0.1:{http_port};
        location /hls/ {{
            types {{
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }}
            root {dir};
            # As in config/nginx-rtmp.conf: playlists without validators,
            # and CORS (pages come from the node, another origin; hls.js
            # fetches with XHR).
            location ~ \.m3u8$ {{
                root {dir};
                etag off;
                if_modified_since off;
                add_header Cache-Control "no-cache" always;
                add_header Access-Control-Allow-Origin "*" always;
            }}
            add_header Cache-Control "public, max-age=60" always;
            add_header Access-Control-Allow-Origin "*" always;
        }}
        # Scripts a test serves to pages (hls.js), from {dir}/vendor; pages
        # load them with `crossorigin`.
        location /vendor/ {{
            root {dir};
            add_header Access-Control-Allow-Origin "*" always;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"#
    )
}

/// ffmpeg pushing `secs` seconds of a test pattern and a tone, in real
/// time, as a seller's encoder would (1 s keyframes, x264 zerolatency).
/// Killed when dropped.
pub fn push(url: &str, secs: u32, log: &Path) -> tokio::process::Child {
    let log = std::fs::File::create(log).expect("ffmpeg log");
    let secs = secs.to_string();
    tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "warning", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine", "-t", &secs])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args(["-c:a", "aac", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ffmpeg")
}

/// Waits for `child` to exit, at most `limit`.
pub async fn exit_within(child: &mut tokio::process::Child, limit: Duration) -> ExitStatus {
    tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| panic!("ffmpeg still running after {limit:?}"))
        .expect("wait for ffmpeg")
}
