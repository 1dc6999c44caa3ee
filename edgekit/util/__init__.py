"""Utilities every stage uses: atomic files, locks, caches, data folders, progress, quieting converters."""
