"""Blocklists: source formats, the compiled memory-mapped trie file, signing and activation.

This package imports nothing else of Straja's."""
