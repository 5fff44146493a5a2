"""The per-node ``config.json`` as HAMi's device plugin reads it: Go's case-insensitive keys, so a
top-level ``nodeConfig`` works as well as ``nodeconfig`` (issue 13, point 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hami.deviceplugin.settings import SettingsError, load_node_config_file


@pytest.mark.parametrize("top", ["nodeconfig", "nodeConfig", "NODECONFIG"])
def test_entries_are_read_whatever_the_key_case(tmp_path: Path, top: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({top: [{"name": "n1", "deviceSplitCount": 4}]}))
    (entry,) = load_node_config_file(path).nodeconfig
    assert (entry.name, entry.devicesplitcount) == ("n1", 4)


def test_missing_file_is_no_entries(tmp_path: Path) -> None:
    assert load_node_config_file(tmp_path / "absent.json").nodeconfig == []


def test_broken_json_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{nope")
    with pytest.raises(SettingsError, match=r"config\.json: cannot read node config"):
        load_node_config_file(path)
