"""The paper's own datasets (Gurnee et al. 2023) from the hub or the HF cache, as collections:
collections.py registers them, tables.py turns each dataset's rows into a labelled table."""
