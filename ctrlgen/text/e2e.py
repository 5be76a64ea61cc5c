"""E2E NLG data: the CSV reader (columns ``mr``, ``ref``) and the meaning-representation parser."""

from __future__ import annotations

import csv
import difflib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ctrlgen.errors import DataError, MRParseError

#: The eight E2E fields, spelled as in the data.
E2E_FIELDS: tuple[str, ...] = ("name", "eatType", "food", "priceRange", "customer rating", "area",
                               "familyFriendly", "near")
_SLOT = re.compile(r"\s*([^\[\],]+?)\s*\[([^\[\]]*)\]\s*")


@dataclass(frozen=True)
class E2EExample:
    mr: dict[str, str]
    ref: str


def parse_mr(mr: str, where: str = "MR") -> dict[str, str]:
    """``"name[The Vaults], eatType[pub]"`` → ``{"name": "The Vaults", "eatType": "pub"}``.

    Raises ``MRParseError`` naming ``where`` (e.g. ``"train.csv line 12"``) when malformed:
    text outside ``field[value]`` slots, an unknown field or a repeated field.
    """
    out: dict[str, str] = {}
    pos = 0
    text = mr.strip()
    if not text:
        raise MRParseError(f"{where}: empty meaning representation")
    while pos < len(text):
        m = _SLOT.match(text, pos)
        if not m:
            raise MRParseError(f"{where}: cannot parse MR at character {pos}: {text[pos:pos + 30]!r}")
        field, value = m.group(1), m.group(2).strip()
        if field not in E2E_FIELDS:
            close = difflib.get_close_matches(field, E2E_FIELDS, n=1)
            raise MRParseError(f"{where}: unknown field {field!r}",
                               (f"did you mean {close[0]!r}? " if close else "") + f"fields are {', '.join(E2E_FIELDS)}")
        if field in out:
            raise MRParseError(f"{where}: field {field!r} appears twice", "an E2E field holds one value")
        if not value:
            raise MRParseError(f"{where}: field {field!r} has an empty value", "write field[value], e.g. food[Japanese]")
        out[field] = value
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise MRParseError(f"{where}: expected ',' at character {pos}: {text[pos:pos + 30]!r}")
            pos += 1
    return out


def read_e2e_csv(path: str | os.PathLike, parse_mrs: bool = True) -> list[E2EExample]:
    """Read an E2E CSV. Errors name the file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {p} does not exist", "pass the path of an E2E CSV (columns mr, ref)")
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise DataError(f"{p} is empty")
        missing = {"mr", "ref"} - set(reader.fieldnames)
        if missing:
            raise DataError(f"{p} lacks column(s) {sorted(missing)}; it has {reader.fieldnames}")
        rows = []
        for row in reader:
            where = f"{p.name} line {reader.line_num}"
            ref = (row.get("ref") or "").strip()
            if not ref:
                raise DataError(f"{where}: empty 'ref'")
            mr = parse_mr(row["mr"] or "", where) if parse_mrs else {}
            rows.append(E2EExample(mr, ref))
    if not rows:
        raise DataError(f"{p} has a header but no rows")
    return rows


def file_fingerprint(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of the file's bytes: recorded in configs to identify training data."""
    h = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"sha256:{h}"
