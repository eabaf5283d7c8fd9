"""Test vectors for FORMAT.md: ``python -m crypto.vectors.generate`` writes the JSON files."""
