"""The bundled default data: scikit-learn's digits (1,797 real 8x8 handwritten digits)."""
from __future__ import annotations

import numpy as np
from PIL import Image


def digits_splits(resolution: int = 32, test_fraction: float = 0.2, seed: int = 0):
    """Stratified train/test split of the digits as (H, W, 3) uint8 images upscaled to
    ``resolution`` (bilinear) with int labels: ((train_images, train_labels), (test_images, test_labels))."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    gray = (digits.images / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    images = np.stack([
        np.asarray(Image.fromarray(g).resize((resolution, resolution), Image.BILINEAR).convert("RGB"))
        for g in gray
    ])
    labels = digits.target.astype(np.int64)
    x_tr, x_va, y_tr, y_va = train_test_split(images, labels, test_size=test_fraction, random_state=seed,
                                              stratify=labels)
    return (x_tr, y_tr), (x_va, y_va)
