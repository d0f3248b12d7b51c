"""`python -m gan_adapt` and a CLI that imports torch only when something is built.

(Start-up *time* is measured by benchmarks/cli_startup.py, not by a test.)
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.core.helpers import ROOT

PROBE = """
import sys
from gan_adapt.cli.commands import main
try:
    main({argv!r})
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("EXIT", code, "TORCH", "torch" in sys.modules)
"""


def probe(*argv: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GAN_ADAPT_LOAD_PLUGINS"}
    result = subprocess.run([sys.executable, "-c", PROBE.format(argv=list(argv))], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    last = result.stdout.strip().splitlines()[-1]
    return last, result.stderr


def test_python_dash_m_gan_adapt_is_the_cli():
    result = subprocess.run([sys.executable, "-m", "gan_adapt", "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gan-adapt, version ")


def test_help_and_validate_never_import_torch():
    """With every installed plugin (the shipped method plugins included) loading."""
    line, stderr = probe("--help")
    assert line == "EXIT 0 TORCH False", stderr
    line, stderr = probe("validate", "recipes/smoke.toml", "recipes/mtg.toml", "recipes/nada.toml",
                         "recipes/cdc-10shot.toml", "recipes/oneshotclip-text.toml")
    assert line == "EXIT 0 TORCH False", stderr
