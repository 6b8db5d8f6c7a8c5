"""Invented demo reports, with synthetic evidence images, for trying the platform.

The reports' links name invented hosts under the reserved ``.test`` and ``.example`` top-level
domains, each listed in ``tarcza/hotline/data/demo_hosts.toml``: with the built-in resolver
(the default in development) a demo trace and a demo re-check stay on this machine.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from tarcza.intake.rules import AgeRange, Category
from tarcza.intake.service import IntakeService, NewReport, Receipt, Upload

# All text is invented; every image is a generated pattern.
DEMO_REPORTS = (
    NewReport(
        category=Category.SEXTORTION,
        description="Ktoś poznany w grze grozi, że roześle moje zdjęcia, jeśli nie zapłacę. (demo)",
        usernames=("demo_player_77",),
        platform="Przykładowa gra online",
        child_age_range=AgeRange.AGE_13_15,
        language="pl",
        source="demo",
    ),
    NewReport(
        category=Category.CSAM,
        description="Link found on a forum thread. (demo)",
        urls=(
            "https://galeria.demo.example/demo/gallery/1",
            "https://pliki.demo.example/demo/file?id=42",
            # Listed with no address: the site that has gone (its name no longer resolves).
            "https://usuniete.demo.example/demo/old-post",
        ),
        language="en",
        source="demo",
    ),
    NewReport(
        category=Category.GROOMING,
        description="Dorosły pisze do mojej córki i prosi o spotkanie. (demo)",
        child_in_danger=True,
        child_age_range=AgeRange.UNDER_13,
        platform="Przykładowy komunikator",
        usernames=("demo_friend",),
        language="pl",
        source="demo",
    ),
    NewReport(
        category=Category.OTHER,
        description="Konto publikuje komentarze seksualizujące dzieci. (demo)",
        urls=("https://profil.demo.test/demo/profile",),
        language="pl",
        source="demo",
    ),
)


def demo_image(seed: int) -> bytes:
    """A synthetic PNG: coloured stripes and circles, different for each seed."""
    img = Image.new("RGB", (320, 240), (20 * seed % 255, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(8):
        x = (seed * 37 + i * 41) % 320
        draw.ellipse(
            (x, i * 25, x + 60, i * 25 + 60), fill=((i * 31) % 255, 200, (seed * 53) % 255)
        )
        draw.rectangle((0, i * 30, 320, i * 30 + 8), fill=(255, (i * 17) % 255, 0))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


# One idempotency key per report. A report whose text changes takes a new key: under its old
# key a database that already holds the demo would refuse it (IdempotencyConflict). The "-local"
# keys are the reports whose links moved from example.com/.org/.net to the demo's own hosts.
DEMO_KEYS = ("demo-report-0", "demo-report-1-local", "demo-report-2", "demo-report-3-local")


def load_demo(intake: IntakeService) -> list[Receipt]:
    """Submit the demo reports once (idempotent across runs); returns their receipts."""
    receipts = []
    for index, (key, report) in enumerate(zip(DEMO_KEYS, DEMO_REPORTS, strict=True)):
        uploads = [Upload("files[0]", demo_image(index))] if index in (0, 2) else []
        receipts.append(intake.submit(report, uploads, idempotency_key=key))
    return receipts
