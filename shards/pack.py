"""`Packer`: one source's documents (token ids, each ending in <|endoftext|>) into fixed-length rows of
seq_len + 1 tokens.

Its neighbours: shards/tokenize.py makes the documents' token ids, shards/write.py runs one Packer per
(source, split) and writes the rows as shards. The two row layouts (`row_start`) are described in
docs/data-format.md, "Pack".
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tamiz.core.shardformat import PAD


class Packer:
    """Packs one source's documents (token ids ending in <|endoftext|>) into rows of seq_len + 1 tokens.

    row_start="any": rows are windows of the concatenated stream with stride seq_len, so consecutive
    rows overlap by one token and every token but the first is a target exactly once; nothing is padded;
    the tail that does not fill a row is dropped (counted).
    row_start="document": every row starts at a document start; documents are added whole while they
    fit and the rest of the row is <pad> (the trainer ignores targets equal to the manifest's pad_id).
    A document longer than a row is cut into rows of its own (stride seq_len), so only such continuation
    rows start inside a document.
    """

    def __init__(self, seq_len: int, row_start: str, dtype: str, sink: Callable[[np.ndarray], None],
                 pad_id: int | None = None, block_rows: int = 256):
        if row_start == "document" and pad_id is None:
            raise ValueError(f"row_start: 'document' pads rows, but the tokenizer has no {PAD} token")
        self.L, self.R = seq_len, seq_len + 1
        self.row_start, self.pad_id, self.sink = row_start, pad_id, sink
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.tokens_in = 0
        self.padding = 0
        self.dropped = 0
        self._buf = np.zeros(0, dtype=self.dtype)  # "any": tokens not yet in a row (< R)
        self._block = np.zeros((block_rows, self.R), dtype=self.dtype)  # "document": rows being built
        self._n = 0  # finished rows in _block
        self._fill = 0  # tokens in the current row _block[_n]

    def add(self, values: np.ndarray, offsets: np.ndarray) -> None:
        """Documents values[offsets[i]:offsets[i+1]], in order."""
        self.tokens_in += len(values)
        if self.row_start == "any":
            self._add_stream(values)
        else:
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
                self._add_document(values[a:b])

    def finish(self) -> None:
        if self.row_start == "any":
            # the last row's final token is also the first token left in the buffer (already a target)
            self.dropped += len(self._buf) - (1 if self.rows else 0)
            self._buf = self._buf[:0]
        else:
            if self._fill:
                self._close_row()
            self._flush()

    def _add_stream(self, values: np.ndarray) -> None:
        buf = np.concatenate([self._buf, values]) if len(self._buf) else values
        k = (len(buf) - 1) // self.L if len(buf) >= self.R else 0
        if k:
            windows = np.lib.stride_tricks.sliding_window_view(buf, self.R)[::self.L][:k]
            self.sink(np.ascontiguousarray(windows))
            self.rows += k
        self._buf = buf[k * self.L:].copy()

    def _add_document(self, doc: np.ndarray) -> None:
        n = len(doc)
        if self._fill and n > self.R - self._fill:
            self._close_row()
        pos = 0
        while n - pos > self.R:  # a long document: rows of its own, stride L (one token of overlap)
            self._block[self._n] = doc[pos:pos + self.R]
            self._next_row()
            pos += self.L
        rest = n - pos
        if pos and rest == 1:
            return  # only the overlap token is left, already a target of the previous row
        self._block[self._n, self._fill:self._fill + rest] = doc[pos:]
        self._fill += rest
        if self._fill == self.R:
            self._fill = 0
            self._next_row()

    def _close_row(self) -> None:
        self._block[self._n, self._fill:] = self.pad_id
        self.padding += self.R - self._fill
        self._fill = 0
        self._next_row()

    def _next_row(self) -> None:
        self._n += 1
        self.rows += 1
        if self._n == len(self._block):
            self._flush()

    def _flush(self) -> None:
        if self._n:
            self.sink(self._block[:self._n].copy())
            self._n = 0

