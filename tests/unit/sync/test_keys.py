"""Heartbeat keys: HKDF as RFC 5869 defines it, one key per node, secrets and keys only from 0600 files."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.secretfile import SecretFileError
from reconciler.sync.keys import KEY_BYTES, derive_node_key, read_key_file, read_secret

SECRET = b"0123456789abcdef0123456789abcdef0123456789abcdef"
HOSTS = st.from_regex(r"[a-z][a-z0-9.-]{0,30}", fullmatch=True)


def rfc5869(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 written out from the RFC, as the oracle for the library's."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


@given(secret=st.binary(min_size=32, max_size=64), host=HOSTS)
def test_a_node_key_is_hkdf_sha256_of_the_secret_with_the_node_name(secret: bytes, host: str) -> None:
    assert derive_node_key(secret, host) == rfc5869(secret, b"kraken-ansible heartbeat key v1", host.encode(),
                                                    KEY_BYTES)


@given(a=HOSTS, b=HOSTS)
def test_nodes_never_share_a_key(a: str, b: str) -> None:
    assert (derive_node_key(SECRET, a) == derive_node_key(SECRET, b)) == (a == b)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_cli_prints_what_the_agent_reads_back(tmp_path: Path) -> None:
    secret = write(tmp_path / "sync.secret", SECRET.decode() + "\n")
    done = CliRunner().invoke(main, ["key", "derive", "n01", "--secret-file", str(secret)])
    assert done.exit_code == 0, done.output
    key_file = write(tmp_path / "agent.key", done.output)
    assert read_key_file(key_file) == derive_node_key(SECRET, "n01")
    as_json = CliRunner().invoke(main, ["key", "derive", "n01", "--secret-file", str(secret), "--format", "json"])
    assert json.loads(as_json.output) == {"host": "n01", "key": done.output.strip()}


@pytest.mark.parametrize(("content", "mode", "expected"), [
    (SECRET.decode(), 0o640, "chmod 600"),
    ("tooshort", 0o600, "fewer than 32"),
    ("", 0o600, "is empty"),
])
def test_an_unusable_secret_is_refused_with_its_fix(tmp_path: Path, content: str, mode: int, expected: str) -> None:
    secret = write(tmp_path / "sync.secret", content, mode)
    done = CliRunner().invoke(main, ["key", "derive", "n01", "--secret-file", str(secret)])
    assert done.exit_code == 2 and str(secret) in done.output and expected in done.output
    with pytest.raises(SecretFileError):
        read_secret(secret)


def test_a_missing_secret_and_a_bad_host_name_are_user_errors(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["key", "derive", "n01", "--secret-file", str(tmp_path / "absent")])
    assert done.exit_code == 2 and "does not exist" in done.output
    secret = write(tmp_path / "sync.secret", SECRET.decode())
    done = CliRunner().invoke(main, ["key", "derive", "two words", "--secret-file", str(secret)])
    assert done.exit_code == 2 and "'two words' is not an inventory host name" in done.output


@pytest.mark.parametrize("content", ["zz" * KEY_BYTES, "ab" * (KEY_BYTES - 1), SECRET.decode()])
def test_a_key_file_that_does_not_hold_a_key_is_refused(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "agent.key", content)
    with pytest.raises(SecretFileError, match="expected 64 hex digits"):
        read_key_file(path)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "agent.key", derive_node_key(SECRET, "n1").hex(), 0o644)
    with pytest.raises(SecretFileError, match=f"chmod 600 {path}"):
        read_key_file(path)
    assert os.stat(path).st_mode & 0o777 == 0o644  # refused, not "fixed" behind the operator's back
