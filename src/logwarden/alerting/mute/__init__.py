"""Muting: silences, inhibition and time intervals, all behind one `Muter` interface (base.py)."""
