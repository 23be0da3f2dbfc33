"""The fuzz corpus (fuzz/corpus/TARGET/*) replayed through the fuzz targets
(fuzz/targets.py), each seed also truncated and bit-flipped deterministically:
only typed qcss errors may come out (issue 11, "fuzzing kept in the repo")."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import targets  # noqa: E402


def variants(seed: bytes) -> Iterator[bytes]:
    yield seed
    for cut in (len(seed) // 2, len(seed) - 1, 1):
        yield seed[:cut]
    for i in range(0, len(seed), max(1, len(seed) // 16)):
        yield seed[:i] + bytes([seed[i] ^ 0xFF]) + seed[i + 1:]


CASES = sorted((d.name, f) for d in (FUZZ / "corpus").iterdir() for f in d.iterdir())


def test_every_target_has_seeds() -> None:
    assert {name for name, _ in CASES} == set(targets.TARGETS)


@pytest.mark.parametrize(("target", "seed"), CASES, ids=[f"{t}/{f.name}" for t, f in CASES])
def test_corpus_gives_only_typed_errors(target: str, seed: Path,
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QCSS_MIGRATE_MAX_INFLATED", str(16 << 20))
    # Each case writes its inputs in its own directory: nothing shared with other
    # cases or with a fuzz run going on beside the suite.
    monkeypatch.setattr(targets, "_TMP", tmp_path)
    fn = targets.TARGETS[target]
    for data in variants(seed.read_bytes()):
        fn(data)  # anything but a qcss.CssError (caught inside) fails the test
