"""deploy/: nginx.conf passes `nginx -t`, compose.yaml `docker-compose config`, the units `systemd-analyze verify`.

Each check runs where its tool exists (apt: nginx, docker-compose, systemd) and is skipped elsewhere.
The files name production paths; the checks copy them to a temporary folder and point those paths there.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def self_signed(folder: Path) -> None:
    """A throw-away certificate and key as fullchain.pem / privkey.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def nginx_prefix(tmp_path: Path, *, upstream: str = "127.0.0.1:8000", http: int = 80, https: int = 443) -> Path:
    """deploy/nginx.conf with its paths under ``tmp_path`` (and the ports and upstream given)."""
    self_signed(tmp_path / "tls")
    (tmp_path / "dist").mkdir(exist_ok=True)
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "dist" / "index.html").write_text("<!doctype html><title>web view</title>")
    replacements = {
        "/etc/nginx/training-proxy.conf": str(tmp_path / "training-proxy.conf"),
        "/etc/nginx/training-upstream.conf": str(tmp_path / "training-upstream.conf"),
        "/etc/ssl/training/": f"{tmp_path}/tls/",
        "/var/log/nginx/": f"{tmp_path}/logs/",
        "/run/nginx-training.pid": str(tmp_path / "nginx.pid"),
        "/srv/training/web/dist": str(tmp_path / "dist"),
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
    }
    text = (DEPLOY / "nginx.conf").read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    (tmp_path / "nginx.conf").write_text(text)
    shutil.copy(DEPLOY / "training-proxy.conf", tmp_path / "training-proxy.conf")
    (tmp_path / "training-upstream.conf").write_text(
        (DEPLOY / "training-upstream.conf").read_text().replace("127.0.0.1:8000", upstream))
    return tmp_path


@pytest.mark.skipif(not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists(), reason="apt install nginx")
def test_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    prefix = nginx_prefix(tmp_path)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    done = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="apt install docker-compose")
def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "k", "DATA_KEYS": "k", "INDEX_KEY": "k", "METRICS_TOKEN": "k",
           "WECHAT_APPID": "wx", "WECHAT_SECRET": "s", "TENCENT_SMS_SECRET_ID": "id", "TENCENT_SMS_SECRET_KEY": "k",
           "TENCENT_SMS_SDK_APP_ID": "1400000000", "TENCENT_SMS_SIGN_NAME": "协会",
           "TENCENT_SMS_TEMPLATES": "code=1,notice=2"}
    done = subprocess.run(["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for service in ("mongo1", "mongo2", "mongo3", "mongo-init", "app", "worker", "nginx"):
        assert f"  {service}:" in done.stdout
    # A missing secret is refused by name, not started with an empty one.
    missing = subprocess.run(["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
                             capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in env.items() if k != "SECRET_KEY"}, cwd=tmp_path)
    assert missing.returncode != 0 and "SECRET_KEY" in missing.stderr
    no_sms = subprocess.run(["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
                            capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in env.items() if k != "TENCENT_SMS_SECRET_KEY"}, cwd=tmp_path)
    assert no_sms.returncode != 0 and "TENCENT_SMS_SECRET_KEY" in no_sms.stderr
    # The app image is built from the repository by deploy/Dockerfile, and both app and worker use it.
    config = yaml.safe_load(done.stdout)
    build = config["services"]["app"]["build"]
    assert Path(build["context"]).resolve() == DEPLOY.parent and build["dockerfile"] == "deploy/Dockerfile"
    assert config["services"]["worker"]["image"] == config["services"]["app"]["image"] == "training-app"
    assert config["services"]["app"]["environment"]["SMS_BACKEND"] == "tencent"


def test_the_dockerfile_builds_what_production_settings_need() -> None:
    """Offline, no daemon: the Dockerfile's instructions against what the app and compose expect."""
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith(("#", " "))]
    keywords = [parts[0] for parts in instructions]
    assert keywords[0] == "FROM" and keywords.count("FROM") == 2  # the web view's build, then the app
    assert set(keywords) <= {"FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "EXPOSE", "STOPSIGNAL", "CMD"}
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "pip install ." in code and "SecantusDB" not in code and "[embedded]" not in code
    assert "fonts-wqy-microhei" in text  # the font PASS_FONT names by default
    assert str(Settings.model_fields["pass_font"].default).startswith("/usr/share/fonts/truetype/wqy/")
    assert "USER training" in text and "EXPOSE 8000" in text
    assert json.loads(instructions[-1][1]) == ["python", "-m", "server", "--processes", "2"]
    for path in ("pyproject.toml", "server/", "web/package.json", "web/package-lock.json"):
        assert (DEPLOY.parent / path.rstrip("/")).exists(), path  # every COPY source exists in the context
    ignored = (DEPLOY.parent / ".dockerignore").read_text().split()
    assert {".venv", "var", ".env", ".git", "web/node_modules"} <= set(ignored)  # no secrets, no local data


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = sorted((DEPLOY / "systemd").iterdir())
    for unit in units:  # ExecStart must name an existing executable: this machine's Python
        (tmp_path / unit.name).write_text(unit.read_text().replace("/srv/training/.venv/bin/python", sys.executable))
    done = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in units)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ours = [line for line in done.stderr.splitlines() if str(tmp_path) in line]
    assert ours == [], ours  # warnings (an unknown key, a bad value) are printed, not failed on
