import subprocess
import sys

import condsim
from condsim.errors import CondsimError, EmptyConditionError, UnknownConditionError


def test_version_and_help() -> None:
    assert condsim.__version__
    result = subprocess.run(
        [sys.executable, "-m", "condsim", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "condsim" in result.stdout.lower()


def test_error_hierarchy_carries_hint() -> None:
    error = EmptyConditionError("no prompts", hint="give at least one prompt")
    assert isinstance(error, CondsimError) and isinstance(error, ValueError)
    assert error.hint == "give at least one prompt"
    assert str(UnknownConditionError("unknown condition 'hue'")) == "unknown condition 'hue'"
