"""One entry point for any input file: sniff what it really is, check limits, dispatch to the right parser."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from assistant.errors import DocumentError
from assistant.records import ParsedDocument

from ingest.pdf import read_pdf
from ingest.structure import build_document
from ingest.textdocs import parse_html, parse_markdown, parse_text

SUPPORTED = "PDF, Markdown (.md), HTML or plain text (.txt)"
MAX_LINE = 50_000  # no real guideline has a 50k-character line; such text is minified or machine-made

_EXPORT = "export it as PDF (File > Save As > PDF) and ingest that"
_MAGIC: list[tuple[bytes, str, str]] = [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office file (.doc/.xls/.ppt)", _EXPORT),
    (b"{\\rtf", "a Rich Text Format (RTF) document", _EXPORT),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "run OCR on it first (e.g. save as PDF and run ocrmypdf), then ingest the result"),
    (b"\xff\xd8\xff", "a JPEG image", "run OCR on it first (e.g. save as PDF and run ocrmypdf), then ingest the result"),
    (b"GIF8", "a GIF image", "run OCR on it first (e.g. save as PDF and run ocrmypdf), then ingest the result"),
    (b"II*\x00", "a TIFF image", "run OCR on it first (e.g. ocrmypdf), then ingest the result"),
    (b"MM\x00*", "a TIFF image", "run OCR on it first (e.g. ocrmypdf), then ingest the result"),
    (b"\x1f\x8b", "a gzip archive", "unpack it and ingest the documents inside"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it and ingest the documents inside"),
    (b"Rar!", "a RAR archive", "unpack it and ingest the documents inside"),
    (b"\x7fELF", "a program (ELF binary)", f"ingest a {SUPPORTED} document instead"),
    (b"MZ", "a Windows program", f"ingest a {SUPPORTED} document instead"),
]
_HTML = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html|<head|<body|<meta|<title)", re.I | re.S)


def parse_file(path: Path, *, max_bytes: int = 200_000_000, max_pages: int = 2000) -> ParsedDocument:
    """Parse one guideline file into a ParsedDocument; raise DocumentError naming the file and the next step."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(path, f"the file cannot be read ({exc.strerror or exc})",
                            "check the path and permissions and try again") from None
    if size > max_bytes:
        raise DocumentError(path, f"the file is {_mb(size)}, over the size limit of {_mb(max_bytes)}",
                            "split it into smaller files or raise the size limit")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"the file cannot be read ({exc.strerror or exc})",
                            "check the path and permissions and try again") from None
    if not data.strip():
        raise DocumentError(path, "the file is empty", "export the document again and ingest the complete file")
    ext = path.suffix.lower()
    if b"%PDF-" in data[:1024]:
        pages, warnings = read_pdf(path, data, max_pages=max_pages)
        return build_document(path.name, pages, warnings)
    if ext == ".pdf" and data[:4] != b"PK\x03\x04":
        what = "an HTML page" if _HTML.match(data[:4096]) else _binary_kind(data) or "plain text"
        hint = ("save the page as PDF (print to PDF) or give it a .html name, then ingest again"
                if what == "an HTML page" else "re-export the document as PDF and ingest again")
        raise DocumentError(path, f"the file has a .pdf name but is {what}, not a PDF", hint)
    kind = _binary_kind(data)
    if kind:
        raise DocumentError(path, f"the file is {kind}, not a document radguide can read", kind_hint(data))
    text = _decode(path, data)
    if _HTML.match(data[:4096]) or ext in (".html", ".htm") and re.search(r"<(p|div|h[1-6]|body)\b", text, re.I):
        return parse_html(path.name, text)
    if ext in (".md", ".markdown") or re.match(r"\A(---\s*\n|#{1,6} )", text):
        return parse_markdown(path.name, text)
    return parse_text(path.name, text)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _binary_kind(data: bytes) -> str | None:
    """What a binary file really is (None when it looks like text)."""
    if data[:4] == b"PK\x03\x04":
        return _zip_kind(data)
    for magic, what, _ in _MAGIC:
        if data.startswith(magic):
            return what
    sample = data[:65536]
    if b"\x00" in sample and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data"
    return None


def kind_hint(data: bytes) -> str:
    """The next step for a file of the wrong type."""
    if data[:4] == b"PK\x03\x04":
        kind = _zip_kind(data)
        return _EXPORT if "Word" in kind or "OpenDocument" in kind or "Power" in kind or "Excel" in kind \
            else "unpack it and ingest the documents inside"
    for magic, _, hint in _MAGIC:
        if data.startswith(magic):
            return hint
    return f"ingest a {SUPPORTED} document instead"


def _zip_kind(data: bytes) -> str:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "a damaged ZIP archive"
    if any(n.startswith("word/") for n in names):
        return "a Word document (.docx)"
    if any(n.startswith("xl/") for n in names):
        return "an Excel workbook (.xlsx)"
    if any(n.startswith("ppt/") for n in names):
        return "a PowerPoint file (.pptx)"
    if "mimetype" in names and any(n == "content.xml" for n in names):
        return "an OpenDocument file"
    if "META-INF/container.xml" in names:
        return "an EPUB e-book"
    return "a ZIP archive"


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    controls = sum(1 for ch in text[:200_000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text[:200_000]) // 100):
        raise DocumentError(path, f"the file holds {controls} control characters, so it is binary data, not text",
                            f"export it as {SUPPORTED} and ingest that")
    longest = max((len(line) for line in text.splitlines()), default=0)
    if longest > MAX_LINE:
        raise DocumentError(path, f"the file has a line of {longest:,} characters (minified or machine-generated?)",
                            "reformat it with line breaks or export it as PDF, then ingest again")
    # Stray control characters (a few) are dropped; they carry no meaning and upset terminals and prompts.
    return re.sub(r"[\x00-\x08\x0b\x0e-\x1f\x7f]", "", text)
