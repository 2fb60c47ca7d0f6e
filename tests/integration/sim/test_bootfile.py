"""The boot file format shared by the PXE role and the simulator: writer, parser, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.sim import BootConfig, BootFileBroken, BootFileMissing, bootfile_path, load_bootfile
from reconciler.sim.bootfile import parse_bootfile, render_bootfile, split_cmdline, write_bootfile
from reconciler.sim.errors import SimConfigError

MAC = "02:4B:52:00:00:07"


def test_path_follows_pxelinux_convention(tmp_path: Path) -> None:
    assert bootfile_path(tmp_path, MAC) == tmp_path / "pxelinux.cfg" / "01-02-4b-52-00-00-07"
    assert bootfile_path(tmp_path, "02-4b-52-00-00-07") == bootfile_path(tmp_path, MAC)
    with pytest.raises(SimConfigError):
        bootfile_path(tmp_path, "02:4b:52")


def test_round_trip_with_every_field(tmp_path: Path) -> None:
    config = BootConfig(
        name="n07",
        exec_argv=("kraken", "agent", "--name", "n07", "--state-dir", "/var/lib/kraken dir"),
        parent="127.0.0.1:31415",
        key_file="/etc/kraken/n07.key",
        args={"console": "ttyS0,115200", "kraken.extra": "a b"},
        flags=("quiet",),
    )
    path = write_bootfile(tmp_path, MAC, config)
    assert path.stat().st_mode & 0o777 == 0o644
    text = path.read_text()
    assert "DEFAULT kraken" in text and "LABEL kraken" in text and "APPEND kraken.name=n07" in text
    assert load_bootfile(tmp_path, MAC) == config


def test_hand_written_pxelinux_file_with_menu_and_global_append() -> None:
    text = """
    # written by hand
    PROMPT 0
    TIMEOUT 10
    APPEND kraken.name=n01 kraken.exec="sleep 5" ip=dhcp
    default other
    label first
      kernel vmlinuz-first
      append kraken.name=wrong kraken.exec=false
    LABEL other
      LINUX vmlinuz-other
    """
    config = parse_bootfile(text)
    assert config.name == "n01"
    assert config.exec_argv == ("sleep", "5")
    assert config.kernel == "vmlinuz-other"
    assert config.label == "other"
    assert dict(config.args) == {"ip": "dhcp"}
    assert config.parent is None and config.key_file is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no LABEL"),
        ("LABEL a\n  KERNEL k\n", "no APPEND"),
        ("DEFAULT b\nLABEL a\n  APPEND kraken.name=n kraken.exec=x\n", "'b', which is not defined"),
        ("LABEL a\n  APPEND kraken.exec=x\n", "kraken.name is missing"),
        ("LABEL a\n  APPEND kraken.name=n\n", "kraken.exec is missing"),
        ('LABEL a\n  APPEND kraken.name=n kraken.exec="x\n', "unbalanced double quote"),
        ("LABEL a\n  APPEND kraken.name=n kraken.name=m kraken.exec=x\n", "more than once"),
        ("LABEL a\n  APPEND kraken.name=n kraken.exec=\"echo 'x\"\n", "not a valid shell-quoted"),
        ("LABEL a\n  APPEND kraken.name=n kraken.parent=nowhere kraken.exec=x\n", "is not HOST:PORT"),
        ("KERNEL k\n", "outside a LABEL"),
    ],
)
def test_broken_files_say_why(text: str, reason: str) -> None:
    with pytest.raises(BootFileBroken, match=reason):
        parse_bootfile(text, source="/srv/tftp/x")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BootFileMissing) as missing:
        load_bootfile(tmp_path, MAC)
    assert missing.value.path == bootfile_path(tmp_path, MAC)
    path = bootfile_path(tmp_path, MAC)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"LABEL a\n APPEND kraken.name=\xff\n")
    with pytest.raises(BootFileBroken, match="not UTF-8"):
        load_bootfile(tmp_path, MAC)


def test_writer_refuses_values_the_format_cannot_hold() -> None:
    with pytest.raises(SimConfigError, match="double quote"):
        render_bootfile(BootConfig(name="n01", exec_argv=("sh", "-c", 'echo "hi"')))
    with pytest.raises(SimConfigError, match="must not be empty"):
        render_bootfile(BootConfig(name="n01", exec_argv=()))
    with pytest.raises(SimConfigError, match="field of BootConfig"):
        render_bootfile(BootConfig(name="n01", exec_argv=("x",), args={"kraken.name": "n02"}))


def test_kernel_cmdline_splitting() -> None:
    assert split_cmdline('  a=1  b="two words" "c d"=e flag ') == ["a=1", "b=two words", "c d=e", "flag"]
    with pytest.raises(ValueError, match="unbalanced"):
        split_cmdline('a="b')
