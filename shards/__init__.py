"""tamiz.shards: tokenize documents, pack them into fixed-length rows, write Arrow shards, verify them.

See docs/data-format.md.
"""
