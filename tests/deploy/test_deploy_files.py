"""The files of deploy/: each is checked by its own tool when the machine has it (CI installs
nginx and Caddy from Debian), and read for the values the app depends on."""

from __future__ import annotations

import configparser
import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from photochanger.limits import MAX_REQUEST_BODY_BYTES
from tests.live import REPO

DEPLOY = REPO / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "photochanger.conf"
NGINX_CLUSTER = DEPLOY / "nginx" / "photochanger-cluster.conf"
NGINX_SITES = pytest.mark.parametrize("site", [NGINX_SITE, NGINX_CLUSTER], ids=lambda p: p.name)
CADDYFILE = DEPLOY / "Caddyfile"
CADDY_CLUSTER = DEPLOY / "Caddyfile.cluster"
CADDYFILES = pytest.mark.parametrize("caddyfile", [CADDYFILE, CADDY_CLUSTER], ids=lambda p: p.name)
SYSTEMD = DEPLOY / "systemd"
# The deadline T_sync_response may be set up to this (SPEC §3); a proxy must wait longer.
LONGEST_DEADLINE_SECONDS = 120
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "kib": 1024, "mib": 1024**2}


def tool(name: str) -> str:
    """The program's path; nginx lives in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it from Debian)")
    return found


def size_in_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", value).groups()
    return int(number) * SIZE_UNITS[unit.lower()]


def seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m|h)?", value).groups()
    return int(number) * {None: 1, "s": 1, "m": 60, "h": 3600}[unit]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "booth.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


# nginx


def nginx_directives(name: str, site: Path = NGINX_SITE) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", site.read_text(), flags=re.MULTILINE)


def without_comments(text: str) -> str:
    return re.sub(r"#[^\n]*", "", text)


@NGINX_SITES
def test_nginx_accepts_the_site(tmp_path: Path, site: Path) -> None:
    nginx = tool("nginx")
    certificate, key = self_signed_certificate(tmp_path)
    text = site.read_text()
    text = re.sub(r"(?m)^(\s*ssl_certificate)\s+\S+;", rf"\1 {certificate};", text)
    text = re.sub(r"(?m)^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {key};", text)
    (tmp_path / "photochanger.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    access_log off;\n"
        f"    client_body_temp_path {tmp_path}/body;\n"
        f"    proxy_temp_path {tmp_path}/proxy;\n"
        f"    include {tmp_path}/photochanger.conf;\n"
        "}\n"
    )

    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", "nginx.conf"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    assert "[warn]" not in done.stderr, done.stderr


@NGINX_SITES
def test_nginx_takes_bodies_up_to_the_apps_cap(site: Path) -> None:
    [limit] = nginx_directives("client_max_body_size", site)

    assert size_in_bytes(limit) == MAX_REQUEST_BODY_BYTES


@NGINX_SITES
def test_nginx_waits_longer_than_the_longest_deadline(site: Path) -> None:
    timeouts = nginx_directives("proxy_read_timeout", site)

    assert timeouts
    assert all(seconds(value) > LONGEST_DEADLINE_SECONDS for value in timeouts)


@NGINX_SITES
def test_nginx_tells_the_app_the_client_address_and_scheme_it_cannot_be_fooled_on(
    site: Path,
) -> None:
    headers = dict(value.split(None, 1) for value in nginx_directives("proxy_set_header", site))

    # Not $proxy_add_x_forwarded_for: daphne trusts the first address, which a client could send.
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["Upgrade"] == "$http_upgrade"
    assert re.search(r"location /ws/ \{[^}]*proxy_pass", site.read_text())


def test_nginx_serves_static_files_from_static_root_and_never_the_media() -> None:
    text = NGINX_SITE.read_text()

    assert "alias /var/lib/photochanger/static/;" in text
    assert "/media" not in text


def nginx_upstream_servers(site: Path) -> dict[str, list[str]]:
    """Each upstream block's name and its server lines."""
    text = without_comments(site.read_text())
    return {
        name: re.findall(r"^\s*server\s+([^;]+);", block, flags=re.MULTILINE)
        for name, block in re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", text)
    }


def test_nginx_cluster_balances_several_servers_and_skips_a_dead_one() -> None:
    [(name, servers)] = nginx_upstream_servers(NGINX_CLUSTER).items()
    [connect_timeout] = nginx_directives("proxy_connect_timeout", NGINX_CLUSTER)

    assert len(servers) >= 2
    for server in servers:
        address, *parameters = server.split()
        assert re.fullmatch(r"[\d.]+:\d+", address), server
        assert any(p.startswith("max_fails=") for p in parameters), server
        assert any(p.startswith("fail_timeout=") for p in parameters), server
    # Every request goes to the upstream, none to one machine past the balancer.
    assert set(nginx_directives("proxy_pass", NGINX_CLUSTER)) == {f"http://{name}"}
    # A machine switched off never refuses: nginx must give up on it before the booth does.
    assert seconds(connect_timeout) <= 10


def test_nginx_cluster_never_sends_an_upload_to_a_second_server() -> None:
    [next_upstream] = nginx_directives("proxy_next_upstream", NGINX_CLUSTER)

    # non_idempotent would resend a POST a server already received: a second paid provider
    # call. No http_5xx either: the app's own answer is the booth's answer.
    assert next_upstream.split() == ["error", "timeout"]
    assert "non_idempotent" not in without_comments(NGINX_CLUSTER.read_text())
    # The body is read whole first, so a server that could not be reached can be skipped.
    assert nginx_directives("proxy_request_buffering", NGINX_CLUSTER) == ["on"]


def test_nginx_cluster_upgrades_websockets_on_every_server() -> None:
    text = without_comments(NGINX_CLUSTER.read_text())
    headers = dict(
        value.split(None, 1) for value in nginx_directives("proxy_set_header", NGINX_CLUSTER)
    )
    [(variable, mapping)] = re.findall(r"map\s+\$http_upgrade\s+(\$\S+)\s*\{([^}]*)\}", text)

    assert nginx_directives("proxy_http_version", NGINX_CLUSTER) == ["1.1"]
    assert headers["Upgrade"] == "$http_upgrade"
    assert headers["Connection"] == variable
    assert re.search(r"^\s*default\s+upgrade;", mapping, flags=re.MULTILINE)
    assert re.search(r"location /ws/ \{[^}]*proxy_pass", text)
    # A location with a proxy_set_header of its own would drop all of the server's.
    for block in re.findall(r"location\s+[^{]+\{([^}]*)\}", text):
        assert "proxy_set_header" not in block, block


def test_nginx_cluster_serves_nothing_from_disk() -> None:
    text = without_comments(NGINX_CLUSTER.read_text())

    # The balancer holds no code: the servers serve the static files themselves.
    assert "alias" not in text
    assert "/media" not in text


# Caddy


@CADDYFILES
def test_caddy_accepts_the_caddyfile(tmp_path: Path, caddyfile: Path) -> None:
    caddy = tool("caddy")

    done = subprocess.run(
        [caddy, "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        # Caddy keeps its certificates and state under the home folder.
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)},
    )

    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr
    assert '"level":"warn"' not in done.stderr, done.stderr


@CADDYFILES
def test_caddy_takes_bodies_up_to_the_apps_cap_and_waits_past_the_deadline(
    caddyfile: Path,
) -> None:
    text = caddyfile.read_text()
    [limit] = re.findall(r"max_size\s+(\S+)", text)
    [timeout] = re.findall(r"response_header_timeout\s+(\S+)", text)

    assert size_in_bytes(limit) == MAX_REQUEST_BODY_BYTES
    assert seconds(timeout) > LONGEST_DEADLINE_SECONDS


def test_caddy_serves_the_static_files_from_static_root() -> None:
    assert "root * /var/lib/photochanger/static" in CADDYFILE.read_text()


def caddy_json(caddyfile: Path, folder: Path) -> dict:
    """The configuration Caddy makes of the file, as it will run it."""
    done = subprocess.run(
        [tool("caddy"), "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder), "XDG_DATA_HOME": str(folder)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def handlers(node: object, name: str) -> list[dict]:
    """Every handler of that name, however deep in routes and subroutes."""
    if isinstance(node, list):
        return [found for item in node for found in handlers(item, name)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("handler") == name else []
    return own + [found for value in node.values() for found in handlers(value, name)]


def test_caddy_cluster_balances_several_servers_it_checks(tmp_path: Path) -> None:
    [proxy] = handlers(caddy_json(CADDY_CLUSTER, tmp_path), "reverse_proxy")
    active = proxy["health_checks"]["active"]
    [site_name] = re.findall(r"(?m)^(\S+) \{$", CADDY_CLUSTER.read_text())

    assert len(proxy["upstreams"]) >= 2
    assert proxy["load_balancing"]["selection_policy"]["policy"]
    # The app's health URL (photochanger/health.py), asked with a Host ALLOWED_HOSTS takes.
    assert active["uri"] == "/healthz"
    assert active["headers"]["Host"] == [site_name]
    assert proxy["health_checks"]["passive"]["fail_duration"]


def test_caddy_cluster_never_sends_an_upload_to_a_second_server(tmp_path: Path) -> None:
    [proxy] = handlers(caddy_json(CADDY_CLUSTER, tmp_path), "reverse_proxy")
    balancing = proxy["load_balancing"]

    # Without retry_match Caddy resends only a GET once a server received it; with one, a POST
    # could go to a second server: a second paid provider call.
    assert "retry_match" not in balancing
    # Retries are for a server that could not be reached: dialing gives up well inside them.
    assert balancing["try_duration"] > proxy["transport"]["dial_timeout"]


# compose


def block_yaml(text: str) -> object:
    """The block-style YAML subset compose.yaml is written in (mappings, sequences, plain and
    quoted scalars, comments), for machines without PyYAML. Anything else is an error."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        assert "\t" not in raw, f"a tab in {raw!r}"
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))

    def scalar(value: str) -> object:
        if value[:1] in "\"'":
            assert len(value) > 1, f"unclosed quote: {value!r}"
            assert value[-1] == value[0], f"unclosed quote: {value!r}"
            return value[1:-1]
        assert value[:1] not in "[{&*!|>%@`", f"not in the block subset: {value!r}"
        return int(value) if value.isdigit() else value

    def node(index: int, indent: int) -> tuple[object, int]:
        if lines[index][1].startswith("- "):
            items = []
            while index < len(lines) and lines[index][0] == indent and lines[index][1][:2] == "- ":
                items.append(scalar(lines[index][1][2:].strip()))
                index += 1
            return items, index
        mapping: dict[str, object] = {}
        while index < len(lines) and lines[index][0] == indent:
            key, colon, value = lines[index][1].partition(":")
            assert colon, f"expected 'key:': {lines[index]}"
            assert key, f"expected 'key:': {lines[index]}"
            assert " " not in key, f"expected 'key:': {lines[index]}"
            assert key not in mapping, f"{key} twice"
            index += 1
            if value.strip():
                mapping[key] = scalar(value.strip())
            elif index < len(lines) and (
                lines[index][0] > indent or lines[index][1].startswith("- ")
            ):
                mapping[key], index = node(index, lines[index][0])
            else:
                mapping[key] = None
        return mapping, index

    parsed, end = node(0, 0)
    assert end == len(lines), f"unexpected indentation at {lines[end]}"
    return parsed


def compose() -> dict:
    text = (DEPLOY / "compose.yaml").read_text()
    try:
        # Optional: the dev tools do not install it.
        import yaml
    except ImportError:
        return block_yaml(text)
    return yaml.safe_load(text)


def test_compose_runs_the_app_beside_postgresql_15_and_redis_7() -> None:
    services = compose()["services"]

    assert set(services) == {"app", "cleanup", "postgres", "redis"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["app"]["command"][-2:] == ["serve", "--proxy-headers"]
    assert "cleanup_media" in " ".join(services["cleanup"]["command"])
    environment = services["app"]["environment"]
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379")


def test_compose_keeps_the_database_media_and_data_folder_in_volumes() -> None:
    definition = compose()
    app = definition["services"]["app"]

    assert set(definition["volumes"]) == {"database", "data", "media"}
    assert "database:/var/lib/postgresql/data" in definition["services"]["postgres"]["volumes"]
    assert f"data:{app['environment']['DATA_DIR']}" in app["volumes"]
    assert f"media:{app['environment']['MEDIA_ROOT']}" in app["volumes"]


def test_the_block_yaml_reader_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(AssertionError):
        block_yaml("services:\n  app: {image: x}\n")
    assert block_yaml("a:\n  b:\n    - '1'\n    - 2\n  c:\nd:\n- x\ne: y\n") == {
        "a": {"b": ["1", 2], "c": None},
        "d": ["x"],
        "e": "y",
    }


# systemd


def units(folder: Path) -> list[Path]:
    """The units, pointing at this checkout instead of /srv/photochanger, so the programs
    they start exist."""
    copies = []
    for unit in sorted(SYSTEMD.iterdir()):
        copy = folder / unit.name
        copy.write_text(unit.read_text().replace("/srv/photochanger", str(REPO)))
        copies.append(copy)
    return copies


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")

    done = subprocess.run(
        [analyze, "verify", *[str(unit) for unit in units(tmp_path)]],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    # Unknown keys are only warned about.
    assert str(tmp_path) not in done.stderr, done.stderr


def unit_file(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((SYSTEMD / name).read_text())
    return parser


def test_the_service_runs_serve_behind_the_proxy_as_its_own_user() -> None:
    service = unit_file("photochanger.service")["Service"]

    assert service["ExecStart"].endswith("manage.py serve --proxy-headers")
    assert service["EnvironmentFile"] == "/etc/photochanger/photochanger.env"
    assert service["User"] == "photochanger"
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "photochanger"
    assert "collectstatic" in service["ExecStartPre"]


def test_the_timer_runs_cleanup_media_every_few_minutes() -> None:
    timer = unit_file("photochanger-cleanup.timer")["Timer"]
    cleanup = unit_file("photochanger-cleanup.service")["Service"]

    assert timer["Unit"] == "photochanger-cleanup.service"
    assert timer["OnCalendar"] == "*:0/5"
    assert cleanup["Type"] == "oneshot"
    assert cleanup["ExecStart"].endswith("manage.py cleanup_media")
    assert cleanup["EnvironmentFile"] == "/etc/photochanger/photochanger.env"
