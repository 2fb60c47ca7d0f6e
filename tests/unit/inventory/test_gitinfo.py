"""gitinfo: commit, branch and dirtiness of an inventory in real git repositories made in tmp_path, and committed
exports. Dirty is scoped to the inventory (its folder, or a one-file inventory's folder)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from reconciler.inventory.gitinfo import (
    GitError,
    branch_commit,
    export_commit,
    export_committed,
    find_repository,
    git_info,
    inventory_scope,
)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as a test author; returns stdout."""
    done = subprocess.run(["git", "-c", "user.name=Kraken Tests", "-c", "user.email=tests@example.invalid",
                           "-c", "commit.gpgsign=false", "-c", "safe.directory=*", *args],
                          cwd=repo, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def make_repo(root: Path, files: dict[str, str], *, commit: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
    return root


FILES = {
    "inv/hosts.yml": "all:\n  hosts:\n    n1:\n",
    "inv/group_vars/all.yml": "kraken_power: POWER_ON\n",
    "README.md": "docs\n",
    ".gitignore": "*.secret\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", FILES)


def test_outside_git_everything_is_none(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    info = git_info(tmp_path / "inv")
    assert (info.repository, info.commit, info.branch, info.dirty) == (None, None, None, None)
    assert find_repository(tmp_path / "inv") is None


def test_clean_checkout_reports_head_and_branch(repo: Path) -> None:
    info = git_info(repo / "inv")
    assert info.commit == git(repo, "rev-parse", "HEAD").strip()
    assert len(info.commit or "") == 40
    assert (info.branch, info.dirty) == ("main", False)
    assert info.repository is not None and info.repository.root == repo.resolve()
    assert info.repository.git_dir == info.repository.common_dir == (repo / ".git").resolve()


def test_changes_outside_the_inventory_do_not_make_it_dirty(repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    (repo / "notes.txt").write_text("untracked, outside\n")
    assert git_info(repo / "inv").dirty is False
    assert git_info(repo).dirty is True  # the same edits are inside an inventory that is the whole repository


@pytest.mark.parametrize("change", ["modified", "staged", "deleted", "untracked", "untracked_in_new_folder"])
def test_changes_under_the_inventory_make_it_dirty(repo: Path, change: str) -> None:
    inv = repo / "inv"
    if change == "modified":
        (inv / "hosts.yml").write_text("all:\n  hosts:\n    n2:\n")
    elif change == "staged":
        (inv / "hosts.yml").write_text("all:\n  hosts:\n    n2:\n")
        git(repo, "add", "inv/hosts.yml")
    elif change == "deleted":
        (inv / "group_vars" / "all.yml").unlink()
    elif change == "untracked":
        (inv / "extra.yml").write_text("all:\n  hosts:\n    n3:\n")
    else:
        (inv / "host_vars").mkdir()
        (inv / "host_vars" / "n1.yml").write_text("kraken_power: POWER_OFF\n")
    assert git_info(inv).dirty is True


def test_ignored_files_do_not_make_it_dirty(repo: Path) -> None:
    (repo / "inv" / "bmc.secret").write_text("password\n")
    assert git_info(repo / "inv").dirty is False


def test_a_one_file_inventory_is_scoped_to_its_folder(repo: Path) -> None:
    hosts = repo / "inv" / "hosts.yml"
    assert inventory_scope(hosts) == repo / "inv"
    assert git_info(hosts).dirty is False
    (repo / "inv" / "group_vars" / "all.yml").write_text("kraken_power: POWER_OFF\n")  # ansible reads it too
    assert git_info(hosts).dirty is True


def test_detached_head_has_no_branch(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach")
    info = git_info(repo / "inv")
    assert (info.commit, info.branch, info.dirty) == (head, None, False)


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty", {"inv/hosts.yml": "all:\n"}, commit=False)
    info = git_info(repo / "inv")
    assert (info.commit, info.branch, info.dirty) == (None, "main", True)
    assert branch_commit(repo, "main") is None


def test_git_worktrees_share_the_common_dir(repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    found = find_repository(tmp_path / "side" / "inv")
    assert found is not None
    assert found.root == (tmp_path / "side").resolve()
    assert found.common_dir == (repo / ".git").resolve()
    assert found.git_dir != found.common_dir
    assert git_info(tmp_path / "side" / "inv").branch == "side"


def test_inherited_git_dir_does_not_redirect_git(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = make_repo(tmp_path / "other", {"x": "y"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert git_info(repo / "inv").commit == git(repo, "--git-dir", str(repo / ".git"), "rev-parse", "HEAD").strip()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give the clone away")
def test_a_clone_owned_by_someone_else_is_still_read(repo: Path) -> None:
    for folder, dirs, files in os.walk(repo):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(folder, name), 65534, 65534)
    os.chown(repo, 65534, 65534)
    plain = subprocess.run(["git", "status"], cwd=repo, capture_output=True, text=True, timeout=30, check=False)
    assert plain.returncode != 0 and "dubious ownership" in plain.stderr  # what git does without safe.directory
    info = git_info(repo / "inv")
    assert info.commit is not None and info.dirty is False


def test_status_takes_no_index_lock(repo: Path) -> None:
    lock = repo / ".git" / "index.lock"
    lock.write_text("")  # an operator's git commit in progress
    (repo / "inv" / "hosts.yml").write_text("all:\n  hosts:\n    n9:\n")
    assert git_info(repo / "inv").dirty is True
    assert lock.read_text() == ""  # still theirs


# -- exports ----------------------------------------------------------------------------------------------


def test_export_committed_has_the_committed_files_only(repo: Path, tmp_path: Path) -> None:
    (repo / "inv" / "hosts.yml").write_text("all:\n  hosts:\n    uncommitted:\n")
    (repo / "inv" / "untracked.yml").write_text("all:\n")
    dest = tmp_path / "exports" / "one"
    commit = export_committed(repo, "main", "inv", dest)
    assert commit == git(repo, "rev-parse", "main").strip()
    assert (dest / "inv" / "hosts.yml").read_text() == FILES["inv/hosts.yml"]
    assert (dest / "inv" / "group_vars" / "all.yml").read_text() == FILES["inv/group_vars/all.yml"]
    assert not (dest / "inv" / "untracked.yml").exists()
    assert not (dest / "README.md").exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["one"]  # no staging folder left behind
    assert git_info(repo / "inv").dirty is True  # the work tree and index were not touched


def test_export_follows_the_branch_not_the_checkout(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "inv" / "hosts.yml").write_text("all:\n  hosts:\n    feature:\n")
    git(repo, "commit", "-q", "-am", "feature")
    commit = export_committed(repo, "main", "inv", tmp_path / "main")
    assert commit == git(repo, "rev-parse", "main").strip() != git(repo, "rev-parse", "HEAD").strip()
    assert "feature" not in (tmp_path / "main" / "inv" / "hosts.yml").read_text()


def test_export_of_the_whole_tree(repo: Path, tmp_path: Path) -> None:
    export_commit(repo, git(repo, "rev-parse", "HEAD").strip(), ".", tmp_path / "all")
    assert (tmp_path / "all" / "README.md").read_text() == "docs\n"


def test_export_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="does not exist"):
        export_committed(repo, "nope", "inv", tmp_path / "a")
    with pytest.raises(GitError, match="archive"):
        export_committed(repo, "main", "not-there", tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
