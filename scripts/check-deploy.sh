#!/usr/bin/env bash
# Static validation of the docker-compose deployment (no container engine
# needed): docker-compose.yml, config/docker.toml, config/nginx-rtmp.conf,
# config/schema.cql, Dockerfile. Needs python3 (>= 3.11 for tomllib) and
# PyYAML (installed if missing: Debian's python3-yaml, else pip).
# Usage: scripts/check-deploy.sh [repo root]   (default: this script's repo)
set -euo pipefail
ROOT="${1:-$(cd "$(dirname "$0")/.." && pwd)}"

fail() { echo "check-deploy: FAIL: $*" >&2; exit 1; }

command -v python3 >/dev/null || fail "python3 is required"
if ! python3 -c 'import yaml' 2>/dev/null; then
    if command -v apt-get >/dev/null; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get install -y -qq python3-yaml >/dev/null 2>&1 || true
    fi
    python3 -c 'import yaml' 2>/dev/null \
        || python3 -m pip install --quiet pyyaml >/dev/null 2>&1 \
        || python3 -m pip install --quiet --user --break-system-packages pyyaml >/dev/null 2>&1 \
        || true
    python3 -c 'import yaml' 2>/dev/null || fail "PyYAML is not importable and could not be installed"
fi

exec python3 - "$ROOT" <<'PY'
import re, sys, tomllib, yaml
from pathlib import Path

root = Path(sys.argv[1])
errors = []
def err(msg): errors.append(msg)

def read(rel):
    p = root / rel
    if not p.is_file():
        print(f"check-deploy: FAIL: {rel} is missing", file=sys.stderr); sys.exit(1)
    return p.read_text()

# --- docker-compose.yml ---------------------------------------------------
try:
    compose = yaml.safe_load(read("docker-compose.yml"))
except yaml.YAMLError as e:
    print(f"check-deploy: FAIL: docker-compose.yml does not parse: {e}", file=sys.stderr); sys.exit(1)
services = (compose or {}).get("services") or {}
if not isinstance(services, dict) or not services:
    err("docker-compose.yml: no services")
    services = {}
volumes = set((compose.get("volumes") or {}).keys())
for want in ["scylla1", "scylla2", "scylla3", "redis", "nginx-rtmp",
             "liveshop-migrate", "liveshop1", "liveshop2", "liveshop3"]:
    if want not in services:
        err(f"docker-compose.yml: service {want} is missing")
for name, svc in services.items():
    if not isinstance(svc, dict):
        err(f"service {name}: not a mapping"); continue
    if "image" not in svc and "build" not in svc:
        err(f"service {name}: neither image nor build")
    deps = svc.get("depends_on") or []
    for dep in (deps.keys() if isinstance(deps, dict) else deps):
        if dep not in services:
            err(f"service {name}: depends_on names unknown service {dep!r}")
    for v in svc.get("volumes") or []:
        src = v.split(":", 1)[0] if isinstance(v, str) else (v.get("source") or "")
        if src and not src.startswith((".", "/", "~")) and src not in volumes:
            err(f"service {name}: volume {src!r} is not declared under top-level volumes")
        if src.startswith("./") and not (root / src).exists():
            err(f"service {name}: mounted file {src} does not exist")
for name in [s for s in services if s.startswith("liveshop")]:
    svc = services[name]
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    if env.get("LIVESHOP_STORE") != "scylla":
        err(f"service {name}: LIVESHOP_STORE must be scylla")
    contact = {n.strip().split(":")[0] for n in str(env.get("LIVESHOP_SCYLLA_NODES", "")).split(",")}
    if not {"scylla1", "scylla2", "scylla3"} <= contact:
        err(f"service {name}: LIVESHOP_SCYLLA_NODES must name scylla1, scylla2 and scylla3")
    if name == "liveshop-migrate":
        if svc.get("command") != ["migrate"]:
            err("service liveshop-migrate: command must be [\"migrate\"]")
        continue
    if not str(env.get("LIVESHOP_CACHE_REDIS_URL", "")).startswith("redis://"):
        err(f"service {name}: LIVESHOP_CACHE_REDIS_URL must be a redis:// URL")
    if "LIVESHOP_JWT_SECRET" not in env:
        err(f"service {name}: LIVESHOP_JWT_SECRET is not set")
    deps = svc.get("depends_on") or {}
    if not (isinstance(deps, dict) and (deps.get("redis") or {}).get("condition") == "service_healthy"):
        err(f"service {name}: must depend on redis being healthy")
    if not (isinstance(deps, dict) and (deps.get("liveshop-migrate") or {}).get("condition")
            == "service_completed_successfully"):
        err(f"service {name}: must wait for liveshop-migrate to complete")
    if not any(isinstance(v, str) and v.startswith("./config/docker.toml:") for v in svc.get("volumes") or []):
        err(f"service {name}: config/docker.toml is not mounted")
secrets = {str((services[n].get("environment") or {}).get("LIVESHOP_JWT_SECRET"))
           for n in services if n.startswith("liveshop") and n != "liveshop-migrate"}
if len(secrets) > 1:
    err("liveshop nodes do not share one LIVESHOP_JWT_SECRET")
redis_cmd = services.get("redis", {}).get("command", "")
redis_cmd = " ".join(redis_cmd) if isinstance(redis_cmd, list) else str(redis_cmd)
if not re.search(r"--appendonly\s+yes", redis_cmd):
    err("redis: must run with --appendonly yes")
if not re.search(r"--appendfsync\s+always", redis_cmd):
    err("redis: must run with --appendfsync always")
for n in ["scylla1", "scylla2", "scylla3"]:
    s = services.get(n, {})
    if "healthcheck" not in s:
        err(f"service {n}: no healthcheck")
    if "--seeds" not in str(s.get("command", "")):
        err(f"service {n}: no --seeds")

# --- config/docker.toml ---------------------------------------------------
try:
    reference = tomllib.loads(read("config/liveshop.toml"))
    docker = tomllib.loads(read("config/docker.toml"))
except tomllib.TOMLDecodeError as e:
    print(f"check-deploy: FAIL: TOML does not parse: {e}", file=sys.stderr); sys.exit(1)
# liveshop.toml documents some keys only as comments (`# public_url = ...`).
commented = set(re.findall(r"^#\s*([a-z_]+)\s*=", read("config/liveshop.toml"), re.M))
known = set(reference) | commented | {"store", "redis", "scylla"}
for key, value in docker.items():
    if key not in known:
        err(f"config/docker.toml: unknown top-level key {key!r}")
    elif isinstance(value, dict) and isinstance(reference.get(key), dict):
        for sub in value:
            if sub not in reference[key] and sub not in commented:
                err(f"config/docker.toml: unknown key [{key}].{sub}")
if docker.get("store") not in (None, "embedded", "redis", "scylla"):
    err("config/docker.toml: store must be \"embedded\", \"redis\" or \"scylla\"")
if docker.get("store") == "scylla":
    sc = docker.get("scylla") or {}
    if not sc.get("nodes"):
        err("config/docker.toml: store = \"scylla\" needs [scylla] nodes")
    if sc.get("replication_factor", 3) != 3:
        err("config/docker.toml: three ScyllaDB nodes: replication_factor must be 3")
# The shared cache: `cache = "memory"|"redis"` or a [cache] table. Three
# nodes on one store must share the cache too (rate limits, live rooms).
cache = docker.get("cache")
backend = cache.get("backend") if isinstance(cache, dict) else cache
if backend not in (None, "memory", "redis"):
    err("config/docker.toml: cache backend must be \"memory\" or \"redis\"")
elif docker.get("store") in ("redis", "scylla") and backend != "redis":
    err("config/docker.toml: the nodes share a store but not the cache "
        "(set [cache] backend = \"redis\")")
if "jwt_secret" in docker:
    err("config/docker.toml: jwt_secret must come from LIVESHOP_JWT_SECRET, not the file")

# --- config/nginx-rtmp.conf -----------------------------------------------
nginx = read("config/nginx-rtmp.conf")
code = "\n".join(line.split("#", 1)[0] for line in nginx.splitlines())
depth = 0
for ch in code:
    depth += (ch == "{") - (ch == "}")
    if depth < 0: break
if depth != 0:
    err("config/nginx-rtmp.conf: unbalanced braces")
for word in ["on_publish ", "on_publish_done ", "notify_method post", "hls on", "listen 1935", "listen 8081"]:
    if word not in code:
        err(f"config/nginx-rtmp.conf: missing {word.strip()!r}")
if re.search(r"location\s+[^{]*/(rtmp|media)", code):
    err("config/nginx-rtmp.conf: must not serve /media/ or /rtmp/ publicly")
# The hooks use the documented /media/ paths (/rtmp/ are old aliases).
for hook in ["on_publish", "on_publish_done", "on_update"]:
    if not re.search(rf"^\s*{hook}\s+http://\S+/media/{hook};", code, re.M):
        err(f"config/nginx-rtmp.conf: {hook} must point at a node's /media/{hook}")
# HLS under the room id: written only by the application the renamed stream
# is pushed to, never where the secret key is the stream's name.
if not re.search(r"^\s*push\s+rtmp://127\.0\.0\.1:1935/hls;", code, re.M):
    err("config/nginx-rtmp.conf: the live application must push to the hls application")
if "hls_fragment 1s" not in code:
    err("config/nginx-rtmp.conf: HLS fragments must be 1 s")

# --- config/schema.cql ----------------------------------------------------
# The ScyllaDB store (crates/store/src/scylla_store) applies this file with
# its `migrate`: it must name the tables the store's statements use, every
# statement IF NOT EXISTS and fully qualified (no USE: the store rewrites the
# `liveshop.` prefix for its configured keyspace).
cql = read("config/schema.cql")
cql_code = "\n".join(line.split("--", 1)[0] for line in cql.splitlines())
stmts = [s.strip() for s in cql_code.split(";") if s.strip()]
tables = set(re.findall(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:liveshop\.)?(\w+)", cql_code, re.I))
for t in ["event_log", "users", "usernames", "refresh_families", "rooms", "room_keys",
          "lots", "lots_by_room", "orders", "order_idem", "orders_by_buyer",
          "orders_by_seller", "chat", "chat_days"]:
    if t not in tables:
        err(f"config/schema.cql: no CREATE TABLE {t}")
for s in stmts:
    head = " ".join(s.split()[:5]).upper()
    if not re.match(r"CREATE (KEYSPACE|TABLE) IF NOT EXISTS", head):
        err(f"config/schema.cql: not a CREATE ... IF NOT EXISTS statement: {s.splitlines()[0]!r}")
    elif head.startswith("CREATE TABLE") and not re.match(r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+liveshop\.\w+", s, re.I):
        err(f"config/schema.cql: table not qualified as liveshop.<table>: {s.splitlines()[0]!r}")
if not re.search(r"CREATE\s+KEYSPACE\s+IF\s+NOT\s+EXISTS\s+liveshop\b", cql_code):
    err("config/schema.cql: must create keyspace liveshop IF NOT EXISTS")
if "'replication_factor': 3" not in cql_code:
    err("config/schema.cql: keyspace must read 'replication_factor': 3 (migrate rewrites it)")
if not re.search(r"tablets\s*=\s*\{\s*'enabled'\s*:\s*false\s*\}", cql_code):
    err("config/schema.cql: keyspace must set tablets = {'enabled': false}")
if "NetworkTopologyStrategy" not in cql_code:
    err("config/schema.cql: keyspace must use NetworkTopologyStrategy")
for col in ["epoch", "last_seq"]:
    if not re.search(rf"\b{col}\s+bigint\s+STATIC", cql_code, re.I):
        err(f"config/schema.cql: event_log needs a static {col} column")
if cql_code.count("(") != cql_code.count(")"):
    err("config/schema.cql: unbalanced parentheses")

# --- Dockerfile -----------------------------------------------------------
df = read("Dockerfile")
for word in ["FROM rust:1-bookworm", "FROM debian:bookworm-slim", "-p liveshop-node",
             "EXPOSE 8080", 'ENTRYPOINT ["liveshop"]', "HEALTHCHECK", "USER "]:
    if word not in df:
        err(f"Dockerfile: missing {word!r}")
ign = read(".dockerignore").split()
for word in ["target/", "data/", ".git"]:
    if word not in ign:
        err(f".dockerignore: does not exclude {word}")

if errors:
    for e in errors:
        print(f"check-deploy: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-deploy: ok ({len(services)} services, {len(tables)} CQL tables, "
      f"docker.toml keys known, nginx hooks present)")
PY
