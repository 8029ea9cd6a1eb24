"""Examples to model inputs, the same layout for masked and causal checkpoints.

Pretraining put `<|endoftext|>` (EOT) between documents, so it is the token a model has seen before a text
starts and after it ends; it is the one separator here too (the models have no CLS/SEP of their own):

- classification, masked: `EOT text [EOT pair] EOT`, the head reads the mean of the states (models.py).
- classification, causal: `EOT text [NEWLINE pair]`; Llama's head reads the last non-pad position, the
  text's last token, the one that has attended to all of it. Not a final EOT: in packed pretraining what
  follows EOT is an unrelated document, so a causal model learns to make EOT's state forget the text before
  it; for the same reason a pair is joined by a line break, not by EOT.
- tokens: `EOT words...` with the words joined by spaces. A word's label sits on one of its tokens: its
  first for a masked model, its last for a causal one (the last token of a word is the first that has seen
  all of it; a causal tagger still sees only the words to its left, never those after).
- qa, masked: `EOT question EOT context-window EOT`; causal: `EOT question NEWLINE context-window`, joined by
  a line break as classification pairs are (an EOT would tell the model to forget the question). Long
  contexts are cut into windows sharing `stride` tokens; an answer outside a window points at position 0 (no
  answer there). Start and end are predicted per context token; for a causal model the question comes
  first, so every context token has read it.
  An answer's span is shrunk past whitespace at either end first (token spans carry none, and SQuAD files
  hold answers such as " Calderón"); an answer that no window holds whole (one longer than the windows'
  overlap, straddling two) trains as "no answer" everywhere: `qa_split` counts those examples.

Character offsets come from the tokenizer (`tokenizers`' offsets), so spans map back to the original text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tamiz.train.finetune.tasks import QAExample, TextExample, TokenExample

IGNORE = -100  # transformers' ignore index for token labels


@dataclass
class Encoded:
    ids: list[int]
    label: int | list[int] | tuple[int, int]  # class id; per-token labels; (start, end) token positions
    ref: int = 0  # the example's index (qa windows: several per example)
    positions: list[int] | None = None  # tokens: the position of each word's labelled token (-1: cut off)
    offsets: list[tuple[int, int] | None] | None = None  # qa: each position's character span in the context


class Encoder:
    def __init__(self, tokenizer, model_kind: str, max_length: int, stride: int = 32):
        self.tok = tokenizer
        self.causal = model_kind == "causal"
        self.max_length = max_length
        self.stride = stride
        self.eot = tokenizer.token_to_id("<|endoftext|>")
        pad = tokenizer.token_to_id("<pad>")
        if self.eot is None or pad is None:
            raise ValueError("the checkpoint's tokenizer lacks <|endoftext|> or <pad>, which fine-tuning needs")
        self.pad = pad
        self.newline = self._ids("\n")

    def _ids(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    # ---- classification ----

    def text(self, ex: TextExample, label: int) -> Encoded:
        a = self._ids(ex.text)
        b = self._ids(ex.pair) if ex.pair is not None else None
        sep, end = (self.newline, []) if self.causal else ([self.eot], [self.eot])
        room = self.max_length - 1 - len(end) - (len(sep) if b is not None else 0)
        if b is None:
            return Encoded([self.eot] + a[:room] + end, label)
        while len(a) + len(b) > room:  # cut the longer text first, as transformers' longest_first
            if len(a) >= len(b):
                a = a[:-1]
            else:
                b = b[:-1]
        return Encoded([self.eot] + a + sep + b + end, label)

    # ---- tokens ----

    def words(self, ex: TokenExample, tag_ids: list[int]) -> Encoded:
        text, spans = "", []
        for w in ex.words:
            if text:
                text += " "
            spans.append((len(text), len(text) + len(w)))
            text += w
        enc = self.tok.encode(text, add_special_tokens=False)
        owner = [_word_at(spans, _trim(text, s, e)) for s, e in enc.offsets]
        positions = [-1] * len(ex.words)
        for t, w in enumerate(owner):
            if w is None or t + 1 >= self.max_length:
                continue
            if positions[w] == -1 or self.causal:  # masked: the word's first token; causal: its last
                positions[w] = t + 1  # +1: the leading EOT
        ids = [self.eot] + enc.ids[: self.max_length - 1]
        labels = [IGNORE] * len(ids)
        for w, p in enumerate(positions):
            if p != -1:
                labels[p] = tag_ids[w]
        return Encoded(ids, labels, positions=positions)

    # ---- qa ----

    def qa(self, ex: QAExample, ref: int) -> list[Encoded]:
        q = self._ids(ex.question)[:64]
        enc = self.tok.encode(ex.context, add_special_tokens=False)
        offs = [_trim(ex.context, s, e) for s, e in enc.offsets]
        sep, end_ = (self.newline, []) if self.causal else ([self.eot], [self.eot])  # as classification pairs
        head = [self.eot] + q + sep
        room = self.max_length - len(head) - len(end_)
        if room < 8:
            raise ValueError(f"{ex.where}: max_length {self.max_length} leaves no room for the context")
        text, start = ex.answers[0]
        end = start + len(text)
        while start < end and ex.context[start].isspace():  # token spans hold no whitespace (_trim)
            start += 1
        while end > start and ex.context[end - 1].isspace():
            end -= 1
        out = []
        first = 0
        while True:
            window = range(first, min(first + room, len(enc.ids)))
            ids = head + [enc.ids[i] for i in window] + end_
            base = len(head)  # position of the window's first context token
            offsets: list[tuple[int, int] | None] = [None] * base + [offs[i] for i in window] + [None] * len(end_)
            s_tok = e_tok = 0
            inside = [i for i in window if offs[i] is not None and offs[i][0] < end and offs[i][1] > start]
            if inside and offs[inside[0]][0] <= start and offs[inside[-1]][1] >= end:
                s_tok, e_tok = base + inside[0] - first, base + inside[-1] - first
            out.append(Encoded(ids, (s_tok, e_tok), ref=ref, offsets=offsets))
            if window.stop >= len(enc.ids):
                return out
            first = window.stop - min(self.stride, room // 2)


def qa_split(enc: Encoder, examples: list[QAExample]) -> tuple[list[Encoded], int]:
    """A split's windows, and how many of its examples have their (first) answer whole in none of them."""
    out, unplaced = [], 0
    for i, ex in enumerate(examples):
        windows = enc.qa(ex, i)
        unplaced += all(w.label == (0, 0) for w in windows)
        out += windows
    return out, unplaced


def _trim(text: str, s: int, e: int) -> tuple[int, int] | None:
    """A token's character span without the whitespace byte-level BPE glues to its front; None if only space."""
    while s < e and text[s].isspace():
        s += 1
    return (s, e) if s < e else None


def _word_at(spans: list[tuple[int, int]], span: tuple[int, int] | None) -> int | None:
    if span is None:
        return None
    for i, (s, e) in enumerate(spans):
        if s <= span[0] < e:
            return i
    return None


def answer_text(context: str, offsets: list, start: int, end: int) -> str:
    return context[offsets[start][0]:offsets[end][1]]
