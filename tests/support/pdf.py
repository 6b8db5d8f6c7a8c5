"""Reading the PDFs tarcza makes as a person would: each page's text, and a page as a PNG.

PDFium (``pypdfium2``, a test dependency) lays the page out as a viewer does.
"""

from __future__ import annotations

import io

import pypdfium2 as pdfium


def text_of(pdf: bytes, pages: int | None = None) -> str:
    """The text of the first ``pages`` pages (all by default), a page after another."""
    document = pdfium.PdfDocument(pdf)
    try:
        count = len(document) if pages is None else min(pages, len(document))
        texts = []
        for n in range(count):
            page = document[n]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "\n".join(texts).replace("\r\n", "\n")
    finally:
        document.close()


def png_of(pdf: bytes, page_number: int = 0, scale: float = 1.0) -> bytes:
    """One page drawn as a PNG."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[page_number]
        bitmap = page.render(scale=scale)
        out = io.BytesIO()
        bitmap.to_pil().save(out, format="PNG")
        bitmap.close()
        page.close()
        return out.getvalue()
    finally:
        document.close()
