"""The data layer: FeatureDataset, the registry of collections, tokenising, table checks, the export
format and the cache. It imports nothing else of probing.features."""
