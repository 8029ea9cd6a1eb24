"""The cloze test: does a model prefer the word that really followed over a substitute?

Built from held-out text, with no hub and no annotation: each pair is a real sentence and the same
sentence with one word replaced ("Para cenar voy a hacer fajitas" / "... cemento"). The model must give
the real sentence the higher log-probability: for causal models the sum of the log-probabilities of
all its tokens (so the words after the slot count too), for masked models the pseudo-log-likelihood
(every token masked in turn, Salazar et al. 2020), both through `tamiz.train.infer.score`. A tie
counts as a miss.

How a pair is chosen (`build_pairs`, deterministic for a seed):
- sentences: split at `.`, `!`, `?` before an upper-case letter, `¿` or `¡` (not after a number: "1.
  Seleccione ..." is a list item), and at line breaks;
  6 to 40 words;
- target: a content word, not the sentence's first word: lower-case Spanish letters only, at least 4
  letters, not a function word (`FUNCTION_WORDS`);
- substitute: another content word of the same frequency bucket (floor of log2 of its count in the
  held-out sentences: 1, 2-3, 4-7, ...) and the same length bucket (4-5, 6-7, 8-9, 10-11, 12+
  letters), absent from the sentence. Matching frequency and length keeps the test about context,
  not about how common or how long a word is (a rare long word has a low probability anywhere).
  Counts are of lower-case occurrences only (the form a target and a substitute take): a word the
  sets hold only capitalised ("Aceptar", a button; "Android", a name) is never a substitute, since
  in lower case it does not occur there at all.

A substitute can fit its sentence too (a random noun of the same frequency is sometimes as good a
continuation); such pairs cap the accuracy a perfect model reaches below 1. The same pairs are used
for every model compared, so this costs every model alike.

Accuracy comes with its Wilson 95% interval (the binomial sampling error of a finite set of pairs).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

FUNCTION_WORDS = frozenset("""
a al algo alguien algún alguna algunas alguno algunos ante antes aquel aquella aquellas aquello aquellos aquí así
aun aún bajo bien cada casi como cómo con contra cual cuál cuales cuáles cualquier cuando cuándo cuanto cuánto de
del desde donde dónde durante el él ella ellas ello ellos en entre era eran es esa esas ese eso esos esta está
estaba estaban están estar este esto estos fue fueron ha había habían han has hasta hay he la las le les lo los
más me mi mis mismo misma mismos mismas mucho muchos mucha muchas muy nada ni ningún ninguna ninguno no nos
nosotros nuestra nuestro nuestras nuestros o os otra otras otro otros para pero poco por porque pues que qué
quien quién quienes se sea sean según ser si sí sido siempre sin sino sobre son su sus también tan tanto te
tiene tienen toda todas todo todos tras tu tú tus un una unas uno unos usted ustedes vez y ya yo puede pueden
hacer hace debe deben estas cuya cuyo cuyas cuyos mediante través luego además sólo solo entonces aunque
mientras tales tal dicho dicha hubo será serán sería habrá tenía tener
""".split())

WORD = re.compile(r"[^\W\d_]+")  # a run of letters (any script); candidates are checked further below
SPANISH_LOWER = re.compile(r"^[a-záéíóúüñ]+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<![0-9]\.)\s+(?=[A-ZÁÉÍÓÚÜÑ¿¡])")  # not after a list number ("1. ")
MIN_WORDS, MAX_WORDS = 6, 40
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class ClozePair:
    """A held-out sentence and the same sentence with one word replaced."""

    sentence: str  # the real sentence
    target: str  # the word that really stood at `start`
    substitute: str  # a word of similar frequency and length that did not
    start: int  # character offset of the target in the sentence
    source: str = ""  # the evaluation set it came from

    @property
    def altered(self) -> str:
        return self.sentence[:self.start] + self.substitute + self.sentence[self.start + len(self.target):]


def split_sentences(text: str) -> list[str]:
    """The sentences of a text, whitespace normalised: split at line breaks and after `.`, `!` or `?` that
    precede an upper-case letter, `¿` or `¡` (a digit's period, as in a numbered list, does not end one)."""
    out = []
    for line in text.splitlines():
        for s in _SENTENCE_END.split(line.strip()):
            s = " ".join(s.split())
            if s:
                out.append(s)
    return out


def is_candidate(word: str) -> bool:
    """A content word that can be a target or a substitute."""
    return len(word) >= 4 and bool(SPANISH_LOWER.match(word)) and word not in FUNCTION_WORDS


def frequency_bucket(count: int) -> int:
    return max(1, count).bit_length()  # 1 -> 1, 2-3 -> 2, 4-7 -> 3, ...


def length_bucket(word: str) -> int:
    return min((len(word) - 4) // 2, 4)  # 4-5, 6-7, 8-9, 10-11, 12+


def _bucket(word: str, counts: Counter) -> tuple[int, int]:
    return frequency_bucket(counts[word]), length_bucket(word)


def build_pairs(texts: Iterable[tuple[str, str]], n: int, seed: int = 0) -> list[ClozePair]:
    """Up to `n` pairs, one per distinct sentence, from (source, text) items; frequencies are counted over
    the sentences used, lower-case occurrences only (a capitalised "Aceptar" does not count for "aceptar").
    The same texts, n and seed give the same pairs."""
    sentences, seen = [], set()
    for src, text in texts:
        for s in split_sentences(text):
            if MIN_WORDS <= len(s.split()) <= MAX_WORDS and s not in seen:  # a repeated sentence counts once
                seen.add(s)
                sentences.append((src, s))
    counts = Counter(w for _, s in sentences for w in WORD.findall(s))  # as written: candidates are lower-case
    pools: dict[tuple[int, int], list[str]] = {}
    for w in sorted(counts):
        if is_candidate(w):  # lower-case forms only: a capitalised form is not a candidate
            pools.setdefault(_bucket(w, counts), []).append(w)
    rng = random.Random(seed)
    order = list(range(len(sentences)))
    rng.shuffle(order)
    pairs: list[ClozePair] = []
    for i in order:
        if len(pairs) >= n:
            break
        src, s = sentences[i]
        words = [(m.start(), m.group()) for m in WORD.finditer(s)]
        eligible = [(pos, w) for k, (pos, w) in enumerate(words) if k >= 1 and is_candidate(w)]
        if not eligible:
            continue
        pos, target = eligible[rng.randrange(len(eligible))]
        present = {w.lower() for _, w in words}
        options = [w for w in pools.get(_bucket(target, counts), []) if w not in present]
        if not options:
            continue
        pairs.append(ClozePair(s, target, options[rng.randrange(len(options))], pos, src))
    return pairs


def pairs_text(pairs: Sequence[ClozePair]) -> str:
    """The pairs as JSON lines (each with its altered sentence too, for a person reading the file)."""
    return "".join(json.dumps({**asdict(p), "altered": p.altered}, ensure_ascii=False) + "\n" for p in pairs)


def write_pairs(path: str | Path, pairs: Sequence[ClozePair]) -> None:
    from tamiz.core.atomic import atomic_open

    with atomic_open(Path(path), "w", encoding="utf-8") as f:
        f.write(pairs_text(pairs))


def read_pairs(path: str | Path) -> list[ClozePair]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            p = ClozePair(d["sentence"], d["target"], d["substitute"], int(d["start"]), d.get("source", ""))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a cloze pair ({e})") from None
        if p.sentence[p.start:p.start + len(p.target)] != p.target:
            raise ValueError(f"{path}:{n}: the target {p.target!r} is not at offset {p.start} of the sentence")
        out.append(p)
    return out


# ---- scoring ----------------------------------------------------------------------------------

def score_pairs(lm, pairs: Sequence[ClozePair]) -> list[bool]:
    """For each pair, whether the model (`tamiz.train.infer.LoadedModel`) gives the real sentence a higher
    log-probability (pseudo-log-likelihood for masked models) than the altered one."""
    from tamiz.train.infer import score

    out = []
    for p in pairs:
        real, altered = score(lm, [p.sentence, p.altered])
        out.append(real.nll < altered.nll)
    return out


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (95% by default); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(correct: Sequence[bool]) -> dict:
    """{correct, pairs, accuracy, ci95: [low, high]} of a list of outcomes."""
    k, n = sum(bool(c) for c in correct), len(correct)
    lo, hi = wilson(k, n)
    return {"correct": k, "pairs": n, "accuracy": k / n if n else None, "ci95": [lo, hi]}
