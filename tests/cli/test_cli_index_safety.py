"""`condsim index` on an emptied or unmounted folder: one error line, exit 2, the store kept; --prune
empties it on purpose (issue 11, item 4). The library side is tested in tests/collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import condsim.cli as cli
from condsim.collection import Store

MODEL = "fake:safety@16"


def _index(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(["index", *(str(arg) for arg in args), "--model", MODEL])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_an_emptied_folder_is_refused_and_prune_empties_on_purpose(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, store = tmp_path / "mnt", tmp_path / "store"
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (8, 8), (80 * index, 40, 40)).save(folder / f"img{index}.png")
    assert _index(capsys, folder, "--store", store)[0] == 0
    for image in folder.iterdir():
        image.unlink()  # as an unmounted drive looks: an empty mount point

    code, _, err = _index(capsys, folder, "--store", store)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 2 and "Traceback" not in err
    assert "holds none of the store's 3 images" in lines[0] and "--prune" in lines[1]
    with Store.open(store) as kept:
        assert len(kept) == 3

    code, out, err = _index(capsys, folder, "--store", store, "--prune")
    assert "removed" in out
    assert code == 0, err
    with Store.open(store) as emptied:
        assert len(emptied) == 0
