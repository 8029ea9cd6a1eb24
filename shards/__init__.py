"""tamiz.shards: tokenized documents packed into fixed-length rows, written as Arrow shards and verified.

tokenize.py (one input -> token ids), pack.py (`Packer`: documents -> rows), write.py (pack every
source, mix by weight, write the shards and the manifest), verify.py (a folder against its manifest).
The folder format itself is core/shardformat.py. See docs/data-format.md.
"""
