"""Where a generation of desired state came from in git: commit, branch, dirtiness; and committed-only exports.

The reconciler records, behind every generation of desired state, the git commit it was read from and whether
the work tree differed from that commit (issue 5, item 1). This module owns every call to the ``git`` CLI made
for that purpose, so that the rules below live in one place:

* **git through its CLI**, not a library: the operator's own ``git`` decides what a work tree, a branch and a
  change are (worktrees, ``.git`` files, packed refs, ``core.*`` settings). Every call is bounded by a timeout,
  runs with ``-c safe.directory=*`` (the reconciler runs as a service user or as root in CI, not as the owner of
  the clone, and git ≥ 2.35.2 would otherwise refuse the repository as of "dubious ownership") and with
  ``--no-optional-locks`` (a background ``git status`` must never take ``index.lock`` from under an operator
  who is committing). ``GIT_DIR``-style variables inherited from the environment are dropped: the inventory
  path alone says which repository is meant.
* **Dirty means: under the inventory, not anywhere in the repository.** The desired state depends only on the
  files ansible-core reads for the inventory: the inventory folder itself, or, for an inventory that is one
  file, the folder holding it (ansible-core reads ``group_vars/`` and ``host_vars/`` next to the file). An edited
  README or role elsewhere in the clone does not make the desired state differ from the commit, so it does not
  make a generation dirty. Modified, staged, deleted and untracked files count; files git ignores do not (the
  operator declared them not part of the repository).
* **Not a git work tree** (or no ``git`` at all) is not an error: commit, branch and dirty are ``None``.
* :func:`export_committed` materialises the inventory as committed at the head of a branch into a private
  folder (``git archive`` piped into :mod:`tarfile` with the ``data`` filter), for the "follow only the committed
  head of a branch" mode: uncommitted edits in the work tree cannot reach the desired state that way. It never
  touches the repository's index, work tree or refs.

>>> info = git_info(Path("/"))
>>> info.commit, info.dirty
(None, None)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_TIMEOUT",
    "GitError",
    "GitInfo",
    "GitRepository",
    "branch_commit",
    "export_commit",
    "export_committed",
    "find_repository",
    "git_info",
    "inventory_scope",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds any one ``git`` call may take before it is killed."""

_GIT_LOCATION_VARIABLES: Final = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
                                  "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE")
"""Environment variables that would make ``git`` look at another repository than the one around the path."""


class GitError(Exception):
    """A ``git`` command failed or timed out where a repository was expected; the message carries its stderr.

    Raised only by the functions that need a repository (:func:`branch_commit`, :func:`export_commit` …);
    :func:`git_info` treats every failure as "not a git tree" instead.
    """


@dataclass(frozen=True)
class GitRepository:
    """A git work tree: its top-level folder and where its refs live.

    ``git_dir`` is this work tree's private git directory (``HEAD``, ``index``); ``common_dir`` the shared one
    (``refs/``, ``packed-refs``, objects). They differ only for ``git worktree`` checkouts.
    """

    root: Path
    git_dir: Path
    common_dir: Path

    def ref_files(self, branch: str) -> tuple[Path, Path]:
        """The two files whose change moves ``branch``: its loose ref and ``packed-refs``."""
        return self.common_dir / "refs" / "heads" / branch, self.common_dir / "packed-refs"


@dataclass(frozen=True)
class GitInfo:
    """The git facts behind one read of an inventory; every field is None outside a git work tree.

    ``commit`` is the full sha of ``HEAD`` (None in a repository without commits), ``branch`` the checked-out
    branch (None when ``HEAD`` is detached), ``dirty`` whether anything under the inventory's scope differs
    from ``HEAD`` (see the module docstring).
    """

    repository: GitRepository | None
    commit: str | None
    branch: str | None
    dirty: bool | None


def inventory_scope(path: Path) -> Path:
    """The folder whose files make up the desired state read from ``path``: itself, or a file's parent folder.

    >>> inventory_scope(Path("/"))
    PosixPath('/')
    """
    path = path.absolute()
    return path if path.is_dir() else path.parent


def find_repository(path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> GitRepository | None:
    """The git work tree enclosing ``path`` (a file or folder), or None when there is none or no ``git``."""
    scope = inventory_scope(path)
    try:
        out = _git(scope, "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir", "--git-common-dir",
                   timeout=timeout)
    except GitError as exc:
        log.debug("event=git.not_a_work_tree path=%s reason=%s", scope, _one_line(str(exc)))
        return None
    lines = out.splitlines()
    if len(lines) != 3 or not lines[0]:
        return None  # a bare repository, or inside .git: not a work tree
    root, git_dir, common_dir = (Path(os.path.realpath(line)) for line in lines)
    return GitRepository(root=root, git_dir=git_dir, common_dir=common_dir)


def git_info(path: Path, *, repository: GitRepository | None = None, timeout: float = DEFAULT_TIMEOUT) -> GitInfo:
    """HEAD's commit and branch, and whether the inventory at ``path`` is dirty; all None outside git.

    ``repository`` skips looking the work tree up again (a caller that reads the same inventory repeatedly
    finds it once with :func:`find_repository`). One ``git status`` call otherwise.
    """
    if repository is None:
        repository = find_repository(path, timeout=timeout)
        if repository is None:
            return GitInfo(None, None, None, None)
    scope = inventory_scope(path)
    try:
        out = _git(scope, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--", ".",
                   timeout=timeout)
    except GitError as exc:
        log.warning("event=git.status_failed path=%s reason=%s", scope, _one_line(str(exc)))
        return GitInfo(repository, None, None, None)
    commit: str | None = None
    branch: str | None = None
    dirty = False
    for record in out.split("\0"):
        if record.startswith("# branch.oid "):
            oid = record.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            head = record.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif record and record[0] in "12u?":
            dirty = True
    return GitInfo(repository, commit, branch, dirty)


def branch_commit(repo_root: Path, branch: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The full sha at the head of local ``branch``, or None when the branch does not exist (yet)."""
    try:
        out = _git(repo_root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", timeout=timeout)
    except GitError:
        return None
    return out.strip() or None


def export_commit(repo_root: Path, commit: str, inventory_relpath: Path | str, dest: Path, *,
                  timeout: float = DEFAULT_TIMEOUT) -> None:
    """Write the files of ``inventory_relpath`` as committed in ``commit`` under ``dest`` (paths kept relative).

    ``inventory_relpath`` is relative to ``repo_root`` (``.`` for the whole tree); the exported inventory is
    ``dest / inventory_relpath``. ``dest`` must not exist: it is filled in a sibling temporary folder and renamed
    into place, so a reader never sees half an export. Raises :class:`GitError` (a path not in the commit …).
    """
    relpath = Path(inventory_relpath).as_posix()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        archive = [*_git_prefix(), "archive", "--format=tar", commit, "--", relpath]
        with subprocess.Popen(archive, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=_environment()) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                    tar.extractall(staging, filter="data")
            except tarfile.TarError as exc:
                proc.kill()
                proc.wait(timeout)
                raise GitError(f"git archive {commit} -- {relpath}: {_one_line(proc.stderr.read().decode())}"
                               f" ({exc})") from exc
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                proc.kill()
                raise GitError(f"git archive {commit} timed out after {timeout:g} s") from exc
            if code != 0:
                raise GitError(f"git archive {commit} -- {relpath}: {_one_line(proc.stderr.read().decode())}")
        if not (staging / relpath).exists():
            (staging / relpath).mkdir(parents=True)  # an empty folder is committed as nothing
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def export_committed(repo_root: Path, branch: str, inventory_relpath: Path | str, dest: Path, *,
                     timeout: float = DEFAULT_TIMEOUT) -> str:
    """Materialise the inventory as committed at the head of ``branch`` under ``dest``; returns that commit.

    The head is resolved once, so the export is exactly one commit even if the branch moves meanwhile.
    Raises :class:`GitError` when the branch does not exist or the export fails.
    """
    commit = branch_commit(repo_root, branch, timeout=timeout)
    if commit is None:
        raise GitError(f"branch {branch!r} does not exist in {repo_root}")
    export_commit(repo_root, commit, inventory_relpath, dest, timeout=timeout)
    return commit


# -- running git -------------------------------------------------------------------------------------------


def _git_prefix() -> list[str]:
    return ["git", "--no-optional-locks", "-c", "safe.directory=*", "-c", "core.quotepath=off"]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    return env


def _git(cwd: Path, *args: str, timeout: float) -> str:
    """Run ``git ARGS`` in ``cwd`` and return its stdout; :class:`GitError` on failure, timeout or no git."""
    try:
        done = subprocess.run([*_git_prefix(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=_environment(), check=False)
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:g} s in {cwd}") from exc
    except OSError as exc:  # no git binary, or cwd vanished
        raise GitError(f"git {args[0]} could not run in {cwd}: {exc}") from exc
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed in {cwd}: {_one_line(done.stderr) or f'exit {done.returncode}'}")
    return done.stdout


def _one_line(text: str) -> str:
    return " ".join(text.split())

