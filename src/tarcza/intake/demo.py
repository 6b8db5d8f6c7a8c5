"""Invented demo reports, with synthetic evidence images, for trying the platform."""

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
        urls=("https://example.com/demo/gallery/1", "https://example.org/demo/file?id=42"),
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
        urls=("https://example.net/demo/profile",),
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


def load_demo(intake: IntakeService) -> list[Receipt]:
    """Submit the demo reports once (idempotent across runs); returns their receipts."""
    receipts = []
    for index, report in enumerate(DEMO_REPORTS):
        uploads = [Upload("files[0]", demo_image(index))] if index in (0, 2) else []
        receipts.append(intake.submit(report, uploads, idempotency_key=f"demo-report-{index}"))
    return receipts
