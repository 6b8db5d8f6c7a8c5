"""Refresh the gettext catalogs: extract message ids and merge them into each language.

Usage: python tools/messages.py        (run after changing any user-facing text)
New Polish messages arrive empty; the catalog test fails until they are translated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "src" / "tarcza" / "web" / "locales"
POT = ROOT / "var" / "messages.pot"


def main() -> int:
    POT.parent.mkdir(exist_ok=True)
    babel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [
            *babel,
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "format",
            "--no-location",
            "--sort-output",
            "--project",
            "tarcza",
            "-o",
            str(POT),
            "src",
        ],
        check=True,
        cwd=ROOT,
    )
    for lang in ("pl", "en"):
        po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
        action = "update" if po.exists() else "init"
        subprocess.run(
            [*babel, action, "-i", str(POT), "-d", str(LOCALES), "-l", lang, "--no-wrap"]
            + (["--ignore-obsolete", "--no-fuzzy-matching"] if action == "update" else []),
            check=True,
            cwd=ROOT,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
