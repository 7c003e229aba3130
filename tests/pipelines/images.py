"""Random images and labels for the pipeline tests (a seeded generator: the same each run)."""
import numpy as np


def random_images(n: int = 24, size: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random (size, size, 3) uint8 images and labels cycling over three classes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8), np.arange(n) % 3
