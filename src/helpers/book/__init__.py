"""Stage 4, the book: figures, the interactive map, and two Sphinx extensions loaded by _config.yml."""
