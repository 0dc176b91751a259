//! Parsing, defaults and checks of the configuration.

use super::backends::CacheTable;
use super::*;

#[test]
fn the_example_config_parses_to_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/liveshop.toml");
    let file = Config::from_file(&path).unwrap();
    let defaults = Config::default();
    assert_eq!(file.listen, defaults.listen);
    assert_eq!(file.data_dir, defaults.data_dir);
    assert_eq!(file.actors.room_tick_ms, defaults.actors.room_tick_ms);
    assert_eq!(file.cache, defaults.cache);
    assert_eq!(file.web, defaults.web);
    assert_eq!(file.media, defaults.media);
}

#[test]
fn the_publisher_timeout_defaults_to_three_updates_and_is_checked() {
    let d = Config::default();
    assert_eq!(d.media.publisher_timeout_ms, 30_000);
    assert_eq!(
        d.actor_config().publisher_timeout,
        Some(Duration::from_secs(30))
    );
    let c: Config = toml::from_str("[media]\npublisher_timeout_ms = 45000\n").unwrap();
    c.check().unwrap();
    assert_eq!(
        c.actor_config().publisher_timeout,
        Some(Duration::from_millis(45_000))
    );
    for bad in [0, 999] {
        let c: Config =
            toml::from_str(&format!("[media]\npublisher_timeout_ms = {bad}\n")).unwrap();
        let err = c.check().unwrap_err();
        assert!(err.to_string().contains("publisher_timeout_ms"), "{err}");
    }
    let err = toml::from_str::<Config>("[media]\npublisher_timeout = 1\n").unwrap_err();
    assert!(err.to_string().contains("publisher_timeout"), "{err}");
}

#[test]
fn unknown_keys_and_bad_values_are_clear_errors() {
    let err = toml::from_str::<Config>("lissten = \"x\"").unwrap_err();
    assert!(err.to_string().contains("lissten"), "{err}");
    let err = toml::from_str::<Config>("listen = \"not an address\"").unwrap_err();
    assert!(
        err.to_string().contains("listen") || err.to_string().contains("address"),
        "{err}"
    );
    let short = Config {
        jwt_secret: Some("short".into()),
        ..Config::default()
    };
    assert!(short.check().is_err());
}

#[test]
fn the_store_is_embedded_by_default_and_unknown_stores_are_refused() {
    assert_eq!(Config::default().store, StoreKind::Embedded);
    let c: Config = toml::from_str("store = \"redis\"\n[redis]\nurl = \"redis://h:1/\"\n").unwrap();
    assert_eq!(c.store, StoreKind::Redis);
    assert_eq!(c.redis.url, "redis://h:1/");
    assert_eq!(c.redis.prefix, "liveshop:");
    let err = toml::from_str::<Config>("store = \"cassandra\"").unwrap_err();
    assert!(err.to_string().contains("cassandra"), "{err}");
    assert!(err.to_string().contains("embedded"), "{err}");
    let err = "mongo".parse::<StoreKind>().unwrap_err();
    assert!(err.to_string().contains("mongo"), "{err}");
    assert_eq!("Redis".parse::<StoreKind>().unwrap(), StoreKind::Redis);
}

#[test]
fn the_scylla_store_takes_its_contact_points_and_keyspace() {
    let c: Config = toml::from_str(
        "store = \"scylla\"\n[scylla]\nnodes = [\"s1:9042\", \"s2:9042\"]\n\
         keyspace = \"shop\"\ndatacenter = \"dc1\"\nrequest_timeout_ms = 2000\n",
    )
    .unwrap();
    assert_eq!(c.store, StoreKind::Scylla);
    c.check().unwrap();
    let o = c.scylla.options();
    assert_eq!(o.known_nodes, ["s1:9042", "s2:9042"]);
    assert_eq!(o.keyspace, "shop");
    assert_eq!(o.local_datacenter.as_deref(), Some("dc1"));
    assert_eq!(o.request_timeout, Duration::from_secs(2));
    assert_eq!(o.replication_factor, 3, "the default");
    let none: Config = toml::from_str("store = \"scylla\"\n[scylla]\nnodes = []\n").unwrap();
    let err = none.check().unwrap_err();
    assert!(err.to_string().contains("scylla.nodes"), "{err}");
    let err = toml::from_str::<Config>("[scylla]\nhosts = []\n").unwrap_err();
    assert!(err.to_string().contains("hosts"), "{err}");
}

#[test]
fn the_cache_is_memory_by_default_and_takes_a_shorthand_or_a_table() {
    let d = Config::default();
    assert_eq!(d.cache.backend, CacheKind::Memory);
    assert_eq!(d.cache_redis_url(), d.redis.url);
    let c: Config = toml::from_str("cache = \"redis\"\n").unwrap();
    assert_eq!(c.cache.backend, CacheKind::Redis);
    assert_eq!(c.cache.prefix, "liveshop-cache:");
    let c: Config = toml::from_str(
        "[redis]\nurl = \"redis://store:1/\"\n[cache]\nbackend = \"redis\"\nprefix = \"c:\"\n",
    )
    .unwrap();
    assert_eq!(
        c.cache_redis_url(),
        "redis://store:1/",
        "defaults to the store's"
    );
    assert_eq!(c.cache.prefix, "c:");
    let c: Config =
        toml::from_str("[cache]\nbackend = \"redis\"\nredis_url = \"redis://cache:2/\"\n").unwrap();
    assert_eq!(c.cache_redis_url(), "redis://cache:2/");
    let err = toml::from_str::<Config>("cache = \"memcached\"").unwrap_err();
    assert!(err.to_string().contains("memcached"), "{err}");
    let err = toml::from_str::<Config>("[cache]\nurl = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("url"), "{err}");
    assert_eq!("REDIS".parse::<CacheKind>().unwrap(), CacheKind::Redis);
    assert!("mongo".parse::<CacheKind>().is_err());
    let zero = Config {
        cache: CacheConfig(CacheTable {
            room_heartbeat_ms: 0,
            ..CacheTable::default()
        }),
        ..Config::default()
    };
    assert!(zero.check().is_err());
}

#[test]
fn the_printed_config_holds_no_secret_and_reads_back() {
    let c: Config = toml::from_str(
        "jwt_secret = \"0123456789abcdef0123456789abcdef-secret\"\n\
         [redis]\nurl = \"redis://user:hunter2@store:6379/0\"\n\
         [cache]\nbackend = \"redis\"\n",
    )
    .unwrap();
    let text = toml::to_string(&c.redacted()).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("-secret"),
        "{text}"
    );
    assert!(text.contains("redis://***@store:6379/0"), "{text}");
    let back: Config = toml::from_str(&text).unwrap();
    assert_eq!(back.cache.backend, CacheKind::Redis);
    assert_eq!(back.cache_redis_url(), "redis://***@store:6379/0");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/docker.toml");
    let docker = Config::from_file(&example).unwrap();
    assert_eq!(docker.cache.backend, CacheKind::Redis);
}

#[test]
fn the_password_cost_defaults_to_argon2s_and_refuses_what_argon2_refuses() {
    let d = Config::default();
    assert_eq!(
        liveshop_gateway::PasswordCost::from(d.auth),
        liveshop_gateway::PasswordCost::default()
    );
    let cheap: Config =
        toml::from_str("[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n").unwrap();
    cheap.check().unwrap();
    assert_eq!(cheap.auth.argon2_parallelism, 1);
    let bad: Config = toml::from_str("[auth]\nargon2_memory_kib = 1\n").unwrap();
    let err = bad.check().unwrap_err();
    assert!(err.to_string().contains("argon2"), "{err}");
}

#[test]
fn the_web_client_loads_hls_js_from_a_url_or_a_path() {
    let d = Config::default();
    assert_eq!(d.web.hls_js_url, liveshop_gateway::DEFAULT_HLS_JS_URL);
    assert!(d.web.hls_js_url.starts_with("https://"));
    let c: Config = toml::from_str("[web]\nhls_js_url = \"/assets/vendor/hls.min.js\"\n").unwrap();
    c.check().unwrap();
    assert_eq!(c.web.hls_js_url, "/assets/vendor/hls.min.js");
    for bad in [
        "hls.min.js",
        "javascript:alert(1)",
        "https://cdn.example/a b.js",
    ] {
        let err = with_web(|w| w.hls_js_url = bad.into()).check().unwrap_err();
        assert!(err.to_string().contains("web.hls_js_url"), "{bad}: {err}");
    }
    let err = toml::from_str::<Config>("[web]\nhls = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("hls"), "{err}");
}

#[test]
fn hls_js_integrity_is_one_sri_hash_or_empty() {
    let d = Config::default();
    assert_eq!(
        d.web.hls_js_integrity,
        liveshop_gateway::DEFAULT_HLS_JS_INTEGRITY
    );
    d.check().unwrap();
    let sha256 = format!("sha256-{}=", "A".repeat(43));
    let sha512 = format!("sha512-{}==", "a/+9".repeat(21) + "ab");
    for good in ["", sha256.as_str(), sha512.as_str()] {
        with_web(|w| w.hls_js_integrity = good.into())
            .check()
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    let short = format!("sha384-{}", "A".repeat(63));
    let bad_char = format!("sha384-{}!", "A".repeat(63));
    for bad in [
        "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
        "sha384",
        short.as_str(),
        bad_char.as_str(),
        "md5-xyz",
    ] {
        let err = with_web(|w| w.hls_js_integrity = bad.into())
            .check()
            .unwrap_err();
        assert!(
            err.to_string().contains("web.hls_js_integrity"),
            "{bad}: {err}"
        );
    }
}

/// The default configuration with `[web]` changed by `edit`.
fn with_web(edit: impl FnOnce(&mut WebSection)) -> Config {
    let mut c = Config::default();
    edit(&mut c.web);
    c
}
