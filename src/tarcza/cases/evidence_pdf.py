"""The evidence package's report as a readable PDF, in Polish.

Drawn with fpdf2 in Noto Sans (the ``fontpkg-noto-sans`` wheel: a font file shipped in a
Python package, so the PDF is made offline and every Polish letter is in it). The PDF is
for reading; what a court checks is the manifest and its signature (see README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import as_file, files
from typing import Any

FONT_PACKAGE = "fontpkg_noto_sans"
FONT_FILE = "NotoSans[wdth,wght].ttf"

CATEGORY = {
    "csam": "Materiał przedstawiający wykorzystywanie seksualne dziecka",
    "sextortion": "Sekstorsja",
    "grooming": "Grooming (uwodzenie dziecka)",
    "other": "Inne",
}
STATUS = {
    "received": "Przyjęte",
    "in_assessment": "W ocenie",
    "forwarded": "Przekazane",
    "closed": "Zamknięte",
}
AGE = {
    "under_13": "poniżej 13 lat",
    "13_15": "13–15 lat",
    "16_17": "16–17 lat",
    "unknown": "nieznany",
}
REFERRAL = {
    "pending": "oczekuje na odpowiedź",
    "accepted": "przyjęte",
    "declined": "odrzucone",
    "withdrawn": "wycofane",
}
OUTCOME = {
    "investigation_opened": "wszczęto postępowanie",
    "victim_identified": "zidentyfikowano ofiarę",
    "suspect_identified": "zidentyfikowano podejrzanego",
    "no_action": "bez dalszych działań",
}
CLASSIFICATION = {
    "baseline": "nielegalne w każdym kraju (baseline)",
    "national": "nielegalne według prawa krajowego",
    "not_illegal": "nie jest nielegalne",
    "not_assessable": "nie do oceny",
}
CONTACT = {"name": "Imię i nazwisko", "email": "E-mail", "phone": "Telefon"}


def _word(table: Mapping[str, str], code: object) -> str:
    if code is None:
        return "—"
    return table.get(str(code), str(code))


class _Writer:
    def __init__(self) -> None:
        from fpdf import FPDF

        pdf = FPDF(format="A4")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_margins(15, 15, 15)
        with as_file(files(FONT_PACKAGE) / "files" / FONT_FILE) as path:
            pdf.add_font("Noto", "", str(path))
        pdf.set_title("Pakiet dowodowy")
        pdf.set_creator("tarcza")
        pdf.add_page()
        self.pdf = pdf

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("Noto", "", size)
        self.pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def line(self, text: str, size: int = 10) -> None:
        self.pdf.set_font("Noto", "", size)
        self.pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")

    def fact(self, name: str, value: object) -> None:
        self.line(f"{name}: {'—' if value in (None, '') else value}")

    def mono(self, text: str) -> None:
        self.line(text, size=8)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def report_pdf(document: Mapping[str, Any], custody: Mapping[str, Any]) -> bytes:
    """The package's report.json (``document``) and custody summary as a Polish PDF."""
    w = _Writer()
    report = document["report"]
    w.heading(f"Pakiet dowodowy — zgłoszenie {document['reference']}", 16)
    w.fact("Numer sprawy", document["case_number"])
    who = document["exported_by"]
    w.fact("Przygotował(a)", f"{who['username']} ({who['agency']})")
    w.fact("Data przygotowania (UTC)", document["exported_at"])

    w.heading("Zgłoszenie")
    w.fact("Kategoria", _word(CATEGORY, report["category"]))
    w.fact("Status", _word(STATUS, report["status"]))
    w.fact("Priorytet", report["priority"])
    w.fact(
        "Dziecko w bezpośrednim niebezpieczeństwie", "tak" if report["child_in_danger"] else "nie"
    )
    w.fact("Wiek dziecka", _word(AGE, report["child_age_range"]))
    w.fact("Język zgłoszenia", report["language"])
    w.fact("Źródło", report["source"])
    w.fact("Platforma", report["platform"])
    w.fact("Otrzymano (UTC)", report["created_at"])
    w.fact("Agencja prowadząca", report["owner_agency"])
    if report.get("description"):
        w.heading("Treść zgłoszenia", 11)
        w.line(report["description"])
    if report.get("usernames"):
        w.heading("Nazwy użytkowników", 11)
        for name in report["usernames"]:
            w.line(f"• {name}")
    if report.get("contact"):
        w.heading("Kontakt do zgłaszającego", 11)
        for key, value in report["contact"].items():
            if value:
                w.fact(CONTACT.get(key, key), value)
    if report.get("urls"):
        w.heading("Zgłoszone adresy", 11)
        for url in report["urls"]:
            w.mono(url)

    _evidence(w, document["evidence"])
    _items(w, document.get("items", []))
    _referrals(w, document.get("referrals", []), document.get("outcomes", []))
    _history(w, document.get("history", []))

    w.heading("Łańcuch dowodowy")
    entries = custody.get("entries", [])
    span = f" (wpisy {entries[0]['seq']}–{entries[-1]['seq']})" if entries else ""
    w.line(
        f"Plik custody.json zawiera {len(entries)} wpisów dziennika audytu{span} dotyczących "
        "tego zgłoszenia i jego treści, z ich skrótami łańcucha (prev_hash, entry_hash), do "
        "porównania z pełnym dziennikiem."
    )
    head = custody.get("log_head")
    if head:
        w.mono(f"Czoło dziennika w chwili eksportu: wpis {head['seq']}, {head['entry_hash']}")

    w.heading("Weryfikacja")
    w.line(
        "Każdy plik pakietu ma skrót SHA-256 w pliku manifest.sha256; manifest jest podpisany "
        "kluczem Ed25519 (manifest.sig). Po odszyfrowaniu i rozpakowaniu:"
    )
    w.mono("sha256sum -c manifest.sha256")
    w.mono(
        "openssl pkeyutl -verify -pubin -inkey KLUCZ_PUBLICZNY.pem -rawin "
        "-in manifest.sha256 -sigfile manifest.sig"
    )
    w.line(
        "KLUCZ_PUBLICZNY.pem to klucz publiczny opublikowany przez operatora systemu "
        "(public_key.pem w pakiecie służy tylko do porównania z nim)."
    )
    return w.output()


def _evidence(w: _Writer, evidence: Sequence[Mapping[str, Any]]) -> None:
    w.heading(f"Materiał dowodowy ({len(evidence)} plików, oryginały w katalogu evidence/)")
    for n, e in enumerate(evidence, start=1):
        w.line(
            f"{n}. {e['file']} — {e['media_type']}, {e['width']}×{e['height']} px, "
            f"{e['size_bytes']} B, otrzymano {e['received_at']}"
        )
        w.mono(f"SHA-256 {e['sha256']}")
        w.mono(f"MD5 {e['md5']}")
        if e.get("pdq"):
            w.mono(f"PDQ {e['pdq']} (jakość {e['pdq_quality']})")
        for m in e.get("matches", []):
            w.line(
                f"Trafienie w bazie skrótów „{m['bank']}” ({m['signal_type']}, "
                f"odległość {m['distance']})",
                size=9,
            )


def _items(w: _Writer, items: Sequence[Mapping[str, Any]]) -> None:
    if not items:
        return
    w.heading("Treści w sieci (ocena, hosting, powiadomienia, usunięcie)")
    for item in items:
        w.mono(f"#{item['id']} {item['url']}")
        w.fact("Klasyfikacja", _word(CLASSIFICATION, item.get("classification")))
        w.fact("Stan", item.get("state"))
        for t in item.get("traces", []):
            where = ", ".join(
                f"{a.get('address')} ({a.get('country') or '?'}, {a.get('operator') or '?'})"
                for a in t.get("addresses", [])
            )
            w.line(f"Hosting {t['at']}: kraj {t.get('country') or '—'}; {where or '—'}", size=9)
        for a in item.get("actions", []):
            w.line(
                f"Działanie {a['at']}: {a['action']}, "
                f"odbiorca {a.get('recipient') or '—'} ({a['status']})",
                size=9,
            )
        w.fact("Usunięto", item.get("removed_at"))


def _referrals(
    w: _Writer, referrals: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, Any]]
) -> None:
    if referrals:
        w.heading("Przekazania")
        for r in referrals:
            w.line(
                f"{r['created_at']}: z {r['from_agency']} do {r['to_agency']}, "
                f"{_word(REFERRAL, r['state'])}; powód: {r['reason']}"
            )
    if outcomes:
        w.heading("Ustalenia policji")
        for o in outcomes:
            why = f"; powód: {o['reason']}" if o.get("reason") else ""
            w.line(f"{o['recorded_at']}: {_word(OUTCOME, o['outcome'])} ({o['recorded_by']}){why}")


def _history(w: _Writer, history: Sequence[Mapping[str, Any]]) -> None:
    if not history:
        return
    w.heading("Historia zgłoszenia")
    for h in history:
        why = f": {h['reason']}" if h.get("reason") else ""
        w.line(f"{h['at']} · {h['actor']} ({h.get('agency') or '—'}) · {h['action']}{why}", 9)
