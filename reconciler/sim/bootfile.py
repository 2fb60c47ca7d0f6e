"""The kraken boot file: one definition shared by the PXE role, the simulator and the tests.

A simulated node network-boots the way a real one does with PXELINUX: on power-on it fetches the
config file named after its MAC address from the TFTP root and boots what the file's default label
says. This module owns the exact format (parser and writer), so the role that writes the file and
the simulator that reads it cannot drift apart.

Location
    ``<tftp_root>/pxelinux.cfg/01-<mac>``: ``01`` is the ARP hardware type of Ethernet and the MAC is
    lower case with dashes, e.g. ``pxelinux.cfg/01-02-4b-52-00-00-01`` (:func:`bootfile_path`).

Syntax (a subset of pxelinux.cfg)
    * UTF-8 text, one directive per line; blank lines and lines starting with ``#`` are ignored.
    * Directive keywords are case-insensitive; the keyword is the first word, its argument the rest.
    * ``DEFAULT <label>`` names the label to boot. Without ``DEFAULT`` the first ``LABEL`` is booted.
    * ``LABEL <name>`` starts a label; ``KERNEL <path>`` (or ``LINUX``) and ``APPEND <cmdline>``
      belong to the label above them. An ``APPEND`` before any ``LABEL`` is the global default for
      labels without their own. Other directives (``PROMPT``, ``TIMEOUT``, ``INITRD``, ``MENU`` ...)
      are accepted and ignored; the simulator has no real kernel, so ``KERNEL`` is informational.

The kernel command line (``APPEND``)
    Words are separated by whitespace, as on a Linux kernel command line. Double quotes group words
    and are removed (``key="a b"`` is the value ``a b``); there are no escapes, so a value cannot
    contain a double quote. A word ``key=value`` sets an argument, a bare word is a flag. The
    ``kraken.*`` arguments are:

    ==================  ========  ===========================================================
    argument            required  meaning
    ==================  ========  ===========================================================
    ``kraken.name``     yes       the node's inventory name; must match the booting node
    ``kraken.exec``     yes       the node's "OS": a POSIX-shell-quoted command line
                                  (``shlex`` rules), later ``kraken agent ...``
    ``kraken.parent``   no        ``HOST:PORT`` of the parent's heartbeat listener
    ``kraken.key``      no        path of the node's heartbeat key file
    ==================  ========  ===========================================================

    Other arguments (``console=ttyS0``, ``kraken.something``) are kept in :attr:`BootConfig.args`
    for the OS to read. A ``kraken.*`` argument given twice makes the file broken.

Example::

    # kraken boot file for n01
    DEFAULT kraken
    LABEL kraken
      KERNEL kraken/vmlinuz
      APPEND kraken.name=n01 kraken.parent=127.0.0.1:31415 kraken.exec="kraken agent --name n01"

A file that cannot be read as above is *broken* (:class:`~reconciler.sim.errors.BootFileBroken`,
with the reason); an absent file is *missing* (:class:`~reconciler.sim.errors.BootFileMissing`).

>>> cfg = BootConfig(name="n01", exec_argv=("sleep", "60"), parent="127.0.0.1:31415")
>>> text = render_bootfile(cfg)
>>> print(text.splitlines()[-1])
  APPEND kraken.name=n01 kraken.parent=127.0.0.1:31415 kraken.exec="sleep 60"
>>> parse_bootfile(text) == cfg
True
>>> bootfile_path("/srv/tftp", "02:4B:52:00:00:01").as_posix()
'/srv/tftp/pxelinux.cfg/01-02-4b-52-00-00-01'
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.sim.errors import BootFileBroken, BootFileMissing, SimConfigError

__all__ = [
    "BootConfig",
    "bootfile_path",
    "load_bootfile",
    "normalize_mac",
    "parse_bootfile",
    "render_bootfile",
    "split_cmdline",
    "write_bootfile",
]

KEY_NAME = "kraken.name"
KEY_EXEC = "kraken.exec"
KEY_PARENT = "kraken.parent"
KEY_KEY = "kraken.key"
_KNOWN_KEYS = (KEY_NAME, KEY_PARENT, KEY_KEY, KEY_EXEC)
DEFAULT_LABEL = "kraken"
DEFAULT_KERNEL = "kraken/vmlinuz"

_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PARENT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


@dataclass(frozen=True)
class BootConfig:
    """What a boot file tells a node to run.

    ``args`` holds the command-line arguments other than the four ``kraken.*`` fields above
    (``console=ttyS0``; unknown ``kraken.*`` keys), ``flags`` the bare words.
    """

    name: str
    exec_argv: tuple[str, ...]
    parent: str | None = None
    key_file: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    kernel: str | None = DEFAULT_KERNEL
    label: str = DEFAULT_LABEL

    @property
    def cmdline(self) -> str:
        """The kernel command line (the ``APPEND`` argument) of this config."""
        words = [_word(KEY_NAME, self.name)]
        if self.parent is not None:
            words.append(_word(KEY_PARENT, self.parent))
        if self.key_file is not None:
            words.append(_word(KEY_KEY, self.key_file))
        words.extend(_word(key, value) for key, value in self.args.items())
        words.extend(self.flags)
        words.append(_word(KEY_EXEC, shlex.join(self.exec_argv)))
        return " ".join(words)


def normalize_mac(mac: str) -> str:
    """Return ``mac`` lower case with colons; raise SimConfigError unless it is six hex octets."""
    candidate = mac.strip().lower()
    if not _MAC_RE.match(candidate):
        raise SimConfigError(f"not a MAC address (six hex octets separated by ':' or '-'): {mac!r}")
    return candidate.replace("-", ":")


def bootfile_path(tftp_root: Path | str, mac: str) -> Path:
    """Where the boot file of the node with this MAC lives: ``<tftp_root>/pxelinux.cfg/01-<mac>``."""
    return Path(tftp_root) / "pxelinux.cfg" / ("01-" + normalize_mac(mac).replace(":", "-"))


def split_cmdline(cmdline: str) -> list[str]:
    """Split a kernel command line into words (whitespace separates, double quotes group).

    >>> split_cmdline('a=1 b="x y"  c')
    ['a=1', 'b=x y', 'c']
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quoted = False
    for char in cmdline:
        if char == '"':
            quoted = not quoted
            in_word = True
        elif char.isspace() and not quoted:
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(char)
            in_word = True
    if quoted:
        raise ValueError("unbalanced double quote in the kernel command line")
    if in_word:
        words.append("".join(current))
    return words


@dataclass
class _Label:
    name: str
    kernel: str | None = None
    append: str | None = None


def parse_bootfile(text: str, *, source: Path | str | None = None) -> BootConfig:
    """Parse the text of a kraken pxelinux boot file; raise BootFileBroken saying why it is unusable."""

    def broken(reason: str) -> BootFileBroken:
        return BootFileBroken(reason, path=source)

    default: str | None = None
    global_append: str | None = None
    labels: dict[str, _Label] = {}
    current: _Label | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        keyword = parts[0].upper()
        argument = parts[1].strip() if len(parts) > 1 else ""
        if keyword == "DEFAULT":
            default = argument
        elif keyword == "LABEL":
            if not argument:
                raise broken(f"line {lineno}: LABEL without a name")
            current = labels.setdefault(argument, _Label(argument))
        elif keyword in ("KERNEL", "LINUX"):
            if current is None:
                raise broken(f"line {lineno}: {keyword} outside a LABEL")
            current.kernel = argument
        elif keyword == "APPEND":
            if current is None:
                global_append = argument
            else:
                current.append = argument
    if not labels:
        raise broken("no LABEL in the boot file")
    if default is not None:
        if default not in labels:
            raise broken(f"DEFAULT names label {default!r}, which is not defined")
        label = labels[default]
    else:
        label = next(iter(labels.values()))
    append = label.append if label.append is not None else global_append
    if append is None:
        raise broken(f"label {label.name!r} has no APPEND line")
    try:
        words = split_cmdline(append)
    except ValueError as exc:
        raise broken(str(exc)) from None

    known: dict[str, str] = {}
    args: dict[str, str] = {}
    flags: list[str] = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            flags.append(word)
        elif key in _KNOWN_KEYS:
            if key in known:
                raise broken(f"{key} is given more than once")
            known[key] = value
        else:
            args[key] = value
    name = known.get(KEY_NAME, "")
    if not name:
        raise broken(f"{KEY_NAME} is missing or empty")
    exec_line = known.get(KEY_EXEC, "")
    try:
        exec_argv = tuple(shlex.split(exec_line))
    except ValueError as exc:
        raise broken(f"{KEY_EXEC} is not a valid shell-quoted command line: {exc}") from None
    if not exec_argv:
        raise broken(f"{KEY_EXEC} is missing or empty")
    parent = known.get(KEY_PARENT)
    if parent is not None and not _valid_parent(parent):
        raise broken(f"{KEY_PARENT}={parent!r} is not HOST:PORT")
    return BootConfig(
        name=name,
        exec_argv=exec_argv,
        parent=parent,
        key_file=known.get(KEY_KEY),
        args=args,
        flags=tuple(flags),
        kernel=label.kernel,
        label=label.name,
    )


def load_bootfile(tftp_root: Path | str, mac: str) -> BootConfig:
    """Read and parse the boot file for ``mac``; raise BootFileMissing or BootFileBroken."""
    path = bootfile_path(tftp_root, mac)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BootFileMissing("no boot file for this MAC", path=path) from None
    except IsADirectoryError:
        raise BootFileBroken("boot file path is a directory", path=path) from None
    except OSError as exc:
        raise BootFileBroken(f"cannot read the boot file: {exc.strerror}", path=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BootFileBroken("boot file is not UTF-8 text", path=path) from None
    return parse_bootfile(text, source=path)


def render_bootfile(config: BootConfig, *, comment: str | None = None) -> str:
    """The text of a boot file for ``config``; raise SimConfigError for values the format cannot hold."""
    for value in (config.label, config.kernel or ""):
        if any(char.isspace() for char in value):
            raise SimConfigError(f"label and kernel may not contain whitespace: {value!r}")
    if not config.exec_argv:
        raise SimConfigError("exec_argv must not be empty")
    if config.parent is not None and not _valid_parent(config.parent):
        raise SimConfigError(f"parent must be HOST:PORT, got {config.parent!r}")
    for key in config.args:
        if key in _KNOWN_KEYS:
            raise SimConfigError(f"{key} is a field of BootConfig, not an extra argument")
    for flag in config.flags:
        if not flag or "=" in flag or '"' in flag or any(char.isspace() for char in flag):
            raise SimConfigError(f"flag must be a single word without '=' or quotes: {flag!r}")
    lines = [f"# {line}" for line in (comment or f"kraken boot file for {config.name}").splitlines()]
    lines += [f"DEFAULT {config.label}", f"LABEL {config.label}"]
    if config.kernel:
        lines.append(f"  KERNEL {config.kernel}")
    lines.append(f"  APPEND {config.cmdline}")
    return "\n".join(lines) + "\n"


def write_bootfile(
    tftp_root: Path | str, mac: str, config: BootConfig, *, comment: str | None = None
) -> Path:
    """Atomically write the boot file for ``mac`` (mode 0644, as a TFTP server needs); return its path."""
    path = bootfile_path(tftp_root, mac)
    text = render_bootfile(config, comment=comment)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bootfile-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _word(key: str, value: str) -> str:
    if not _KEY_RE.match(key):
        raise SimConfigError(f"argument name must be letters, digits, '_', '.' or '-': {key!r}")
    if '"' in value or any(char in value for char in "\r\n\0"):
        raise SimConfigError(f"{key}: a kernel command-line value cannot hold a double quote or newline")
    if value == "" or any(char.isspace() for char in value):
        return f'{key}="{value}"'
    return f"{key}={value}"


def _valid_parent(parent: str) -> bool:
    match = _PARENT_RE.match(parent)
    return match is not None and 0 < int(match.group(2)) < 65536
