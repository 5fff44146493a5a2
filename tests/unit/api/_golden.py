"""Loads the golden wire strings shared by the codec tests."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GOLDEN: dict[str, str] = json.loads((FIXTURES / "golden_annotations.json").read_text("utf-8"))
