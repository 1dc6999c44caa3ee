"""Data sets made on this machine, with no download: spoken keywords (espeak-ng) and machine sounds (numpy)."""
