"""Data: .beton writing, two-view SSL loaders, evaluation loaders and augmentations."""
