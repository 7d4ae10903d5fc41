"""Throwaway PostgreSQL, Redis and Dovecot IMAP servers on loopback for the test suite.

`python -m tests.servers pytest ARGS…` starts each server whose binaries exist in a temporary
directory, exports DATABASE_URL, REDIS_URL and TEST_IMAP_* for the command, runs it and
stops the servers. With CI=true a missing binary is an error, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_BIN_CANDIDATES = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15)]
IMAP_USER = "help@impactlink.org"
IMAP_PASSWORD = "test-mailbox-password"  # noqa: S105


class ServerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerUnavailable(f"server on port {port} exited with code {process.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise ServerUnavailable(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def _as_user(name: str) -> dict[str, object]:
    """Popen arguments that drop root to the given system user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(name)

    def demote() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return {"preexec_fn": demote}


@contextlib.contextmanager
def postgres(root: Path) -> Iterator[str]:
    bin_dir = next((p for p in PG_BIN_CANDIDATES if (p / "initdb").exists()), None)
    if bin_dir is None:
        raise ServerUnavailable("PostgreSQL binaries (initdb, postgres) not found")
    data = root / "pgdata"
    data.mkdir()
    sockets = root / "pgsock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "hub",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        **_as_user("postgres"),  # type: ignore[arg-type]
    )
    port = free_port()
    process = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sockets),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "postgres.log", "wb"),  # noqa: SIM115
        **_as_user("postgres"),  # type: ignore[arg-type]
    )
    try:
        wait_for_port(port, process=process)
        _wait_for_postgres_ready(bin_dir, port)
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hub", "hub"],
            check=True,
        )
        yield f"postgres://hub@127.0.0.1:{port}/hub"
    finally:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()


def _wait_for_postgres_ready(bin_dir: Path, port: int) -> None:
    for _ in range(100):
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise ServerUnavailable("PostgreSQL did not become ready")


@contextlib.contextmanager
def redis(root: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server not found")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        stdout=open(root / "redis.log", "wb"),  # noqa: SIM115 - the server keeps it open
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process=process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


DOVECOT_OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = http://127.0.0.1:{oauth2_port}/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""

DOVECOT_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
# Dovecot replies to a failed login at once (see also anvil-auth-penalty below), so tests of
# a wrong password take milliseconds instead of its growing 2 to 15 second penalty.
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/users
}}
# Access tokens are checked by POSTing them to an introspection endpoint on loopback that a
# test serves (TEST_IMAP_OAUTH2_PORT); without that server every token is rejected.
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = static
  # doveadm's user lookups carry no SASL mechanism, so neither passdb above accepts them.
  args = uid={uid} gid={gid} home={root}/home/%u allow_all_users=yes
}}
"""


def _write_certificate(root: Path) -> None:
    """Write a self-signed certificate for localhost and 127.0.0.1 to cert.pem and key.pem."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(root / "cert.pem"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def dovecot(root: Path) -> Iterator[dict[str, str]]:
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        raise ServerUnavailable("dovecot not found")

    root = root / "dovecot"
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True)
    _write_certificate(root)

    (root / "users").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")

    me = pwd.getpwuid(os.getuid())
    user = "dovenull" if os.geteuid() == 0 else me.pw_name
    # Dovecot refuses to keep mail as root, so as root the mail belongs to "nobody".
    mail_owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else me
    for sub in ("mail", "home"):
        shutil.chown(root / sub, mail_owner.pw_uid, mail_owner.pw_gid)

    port, ssl_port, oauth2_port = free_port(), free_port(), free_port()
    (root / "oauth2.conf.ext").write_text(DOVECOT_OAUTH2_CONFIG.format(oauth2_port=oauth2_port))
    config = root / "dovecot.conf"
    config.write_text(
        DOVECOT_CONFIG.format(
            root=root,
            port=port,
            ssl_port=ssl_port,
            uid=mail_owner.pw_uid,
            gid=mail_owner.pw_gid,
            user=user,
            group=user,
        )
    )

    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "stderr.log", "wb"),  # noqa: SIM115 - the server keeps it open
    )
    try:
        wait_for_port(port, process=process)
        yield {
            "TEST_IMAP_HOST": "127.0.0.1",
            "TEST_IMAP_PORT": str(port),
            "TEST_IMAP_SSL_PORT": str(ssl_port),
            "TEST_IMAP_USER": IMAP_USER,
            "TEST_IMAP_PASSWORD": IMAP_PASSWORD,
            "TEST_IMAP_CONFIG": str(config),
            "TEST_IMAP_ROOT": str(root),
            "TEST_IMAP_CA": str(root / "cert.pem"),
            "TEST_IMAP_OAUTH2_PORT": str(oauth2_port),
        }
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.servers COMMAND [ARGS…]", file=sys.stderr)
        return 2
    strict = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="hub-test-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        # The servers run as their own system users and must reach their folders.
        os.chmod(root, 0o755)  # noqa: S103
        for name, factory in (("PostgreSQL", postgres), ("Redis", redis), ("Dovecot", dovecot)):
            sub = root / name.lower()
            sub.mkdir()
            os.chmod(sub, 0o755)  # noqa: S103
            try:
                value = stack.enter_context(factory(sub))
            except (ServerUnavailable, subprocess.CalledProcessError, OSError) as exc:
                message = f"{name} could not be started: {exc}"
                if strict:
                    print(f"error: {message}", file=sys.stderr)
                    return 3
                print(f"warning: {message}; tests that need it are skipped", file=sys.stderr)
                continue
            if name == "PostgreSQL":
                env["DATABASE_URL"] = str(value)
            elif name == "Redis":
                env["REDIS_URL"] = str(value)
                env["TEST_REDIS_URL"] = str(value)
            else:
                env.update(value)  # type: ignore[arg-type]
            print(f"{name} started for the tests", file=sys.stderr)
        # Tasks run in the test process; the Redis broker is exercised by its own tests.
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
        env["VAR_DIR"] = str(root / "var")
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
