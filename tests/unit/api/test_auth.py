"""Token files (0600 or refused, naming the file and the fix) and the bearer check."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reconciler.api.auth import check_bearer, generate_token_file, read_token_file
from reconciler.api.errors import TokenFileError
from reconciler.errors import UserError


def test_generate_creates_a_0600_file_once(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "api.token"
    token = generate_token_file(path)
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert generate_token_file(path) == token  # an existing file is kept
    assert read_token_file(path) == token


def test_generate_ignores_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        generate_token_file(tmp_path / "t")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_a_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "api.token"
    path.write_text("s3cret\n")
    path.chmod(mode)
    with pytest.raises(TokenFileError) as caught:
        read_token_file(path)
    message = str(caught.value)
    assert str(path) in message and f"chmod 600 {path}" in message and f"{mode:04o}" in message
    assert isinstance(caught.value, UserError) and caught.value.path == path
    with pytest.raises(TokenFileError):
        generate_token_file(path)  # an existing unsafe file is not silently used


def test_read_strips_one_line(tmp_path: Path) -> None:
    path = tmp_path / "api.token"
    path.write_text("  s3cret \n")
    path.chmod(0o600)
    assert read_token_file(path) == "s3cret"


@pytest.mark.parametrize(("content", "phrase"), [("", "is empty"), ("\n \n", "is empty"), ("a b", "one line")])
def test_bad_contents(tmp_path: Path, content: str, phrase: str) -> None:
    path = tmp_path / "api.token"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(TokenFileError, match=phrase):
        read_token_file(path)


def test_missing_and_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="does not exist"):
        read_token_file(tmp_path / "nope")
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(TokenFileError, match="not a regular file"):
        read_token_file(folder)


@pytest.mark.parametrize(("configured", "header", "status"), [
    ("tok", "Bearer tok", 200),
    ("tok", "bearer tok", 200),
    ("tok", None, 401),
    ("tok", "", 401),
    ("tok", "Bearer", 401),
    ("tok", "Basic dG9rOg==", 401),
    ("tok", "Bearer tok2", 403),
    ("tok", "Bearer to", 403),
    (None, "Bearer tok", 403),
    (None, None, 403),
])
def test_check_bearer(configured: str | None, header: str | None, status: int) -> None:
    check = check_bearer(configured, header)
    assert check.status == status and check.ok is (status == 200)
    if configured is None:
        assert "--token-file" in check.message
    assert "tok" not in check.message.replace("token", "")  # never echoes what was sent
