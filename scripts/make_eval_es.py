"""Build the bundled held-out Spanish evaluation sets (data/eval/) from two Debian packages that the
bundled sample does not use.

    mkdir /tmp/evalsrc && cd /tmp/evalsrc
    apt-get download libreoffice-help-es aptitude-doc-es
    for f in *.deb; do dpkg-deb -x "$f" "${f%%_*}"; done
    python scripts/make_eval_es.py /tmp/evalsrc --out data/eval

- `libreoffice_help_es.jsonl`: pages of the LibreOffice help in Spanish (the Writer, Calc, Impress,
  Draw and shared "guide" pages), one document per page (package libreoffice-help-es, MPL-2.0).
- `aptitude_manual_es.jsonl`: the aptitude user's manual in Spanish, one document per page
  (package aptitude-doc-es, GPL-2.0-or-later). Some of its paragraphs were never translated: only
  the paragraphs fastText's lid.176 labels Spanish (p >= 0.8) are kept.

Text comes from the HTML through resiliparse (the project's extractor); navigation lines (and rows of
tab-separated cells, the manual's header and footer tables) and repeated titles are dropped.
Pages are taken in sorted order (every third LibreOffice page, so that the set spans the help; every
aptitude page) while the set stays under MAX_BYTES of text. Deterministic: the same packages give the same files. The script also
prints how many of the sets' sentences occur verbatim in the bundled sample (expected: almost none).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

MAX_BYTES = 120_000  # per set: two sets stay well under 300 kB together
NAV = re.compile(r"^(Anterior|Siguiente|Subir|Inicio)(\s|$)|^Icono\b|^Anterior\s+.*Siguiente$")
LIBREOFFICE_PARTS = ("swriter/guide", "scalc/guide", "simpress/guide", "sdraw/guide", "shared/guide")


def html_text(path: Path) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(path.read_text(encoding="utf-8", errors="replace"), main_content=False)


def paragraphs(text: str) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        # navigation rows (the manual's header and footer tables) are cells separated by tabs
        lines = [ln.strip() for ln in para.splitlines()
                 if ln.strip() and "\t" not in ln.strip() and not NAV.search(ln.strip())]
        if lines and (not out or out[-1] != "\n".join(lines)):  # a page title is repeated as its heading
            out.append("\n".join(lines))
    return out


def spanish(paras: list[str], threshold: float = 0.8) -> list[str]:
    from tamiz.pipeline.langid import predict

    labels = predict([p.replace("\n", " ") for p in paras], k=1)
    return [p for p, top in zip(paras, labels) if top and top[0][0] == "es" and top[0][1] >= threshold]


def pages(files: list[Path], root: Path, package: str, stride: int, min_chars: int = 200) -> list[dict]:
    docs, size = [], 0
    for f in files[::stride]:
        paras = spanish(paragraphs(html_text(f)))
        text = "\n\n".join(paras)
        n = len(text.encode("utf-8"))
        if len(text) < min_chars or size + n > MAX_BYTES:  # too short, or it would take the set past the cap
            continue
        docs.append({"id": f"{package}/{f.relative_to(root).as_posix()}", "text": text, "source": package})
        size += n
    return docs


def write(docs: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"{path}: {len(docs)} documents, {path.stat().st_size:,} bytes")


def overlap_with_sample(docs: list[dict], sample: Path) -> tuple[int, int]:
    """(sentences of 8+ words found verbatim in the sample's text, sentences checked)."""
    import gzip

    text = []
    for p in sorted(sample.rglob("*.jsonl*")):
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rt", encoding="utf-8") as f:
            text += [json.loads(line)["text"] for line in f if line.strip()]
    blob = " ".join(" ".join(t.split()) for t in text)
    found = checked = 0
    for d in docs:
        for s in re.split(r"(?<=[.!?])\s+", " ".join(d["text"].split())):
            if len(s.split()) >= 8:
                checked += 1
                found += s in blob
    return found, checked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path, help="folder with the unpacked packages (libreoffice-help-es/, aptitude-doc-es/)")
    ap.add_argument("--out", type=Path, default=Path("data/eval"))
    args = ap.parse_args()
    lo_root = args.src / "libreoffice-help-es" / "usr" / "share" / "libreoffice" / "help" / "es" / "text"
    lo_files = [f for part in LIBREOFFICE_PARTS for f in sorted((lo_root / part).glob("*.html"))]
    apt_root = args.src / "aptitude-doc-es" / "usr" / "share" / "doc" / "aptitude" / "html" / "es"
    apt_files = sorted(apt_root.glob("*.html"))
    sets = {"libreoffice_help_es": pages(lo_files, lo_root, "libreoffice-help-es", stride=3),
            "aptitude_manual_es": pages(apt_files, apt_root, "aptitude-doc-es", stride=1)}
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    for name, docs in sets.items():
        write(docs, args.out / f"{name}.jsonl")
        found, checked = overlap_with_sample(docs, sample)
        print(f"  {found} of {checked} sentences (8+ words) occur verbatim in data/sample")


if __name__ == "__main__":
    main()
