"""The ten built-in collections, one per category of the paper, each built from pinned sources.

Importing a module registers its collection(s); probing.features imports them all."""
