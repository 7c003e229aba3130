"""The paper's Table S1 augmentations (BYOL protocol) as batched torch ops on the device.

FFCV does the random-resized crop while decoding (pipelines.seeded_crop); the flip, colour
jitter (with hue), grayscale, Gaussian blur and solarization are applied here, after the
batch reaches the device, with independent randomness per sample drawn from a seeded
generator (FFCV's own random ops use unseeded numba state, so a run could not be repeated).  Normalisation is
done here too (FFCV's NormalizeImage after ToTorchImage hangs on CPU: see the stack notes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ViewAugmentation:
    """Probabilities and strengths of one view's augmentations after the crop (Table S1)."""
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 1.0
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5


VIEW_1 = ViewAugmentation(blur_p=1.0, solarize_p=0.0)
VIEW_2 = ViewAugmentation(blur_p=0.1, solarize_p=0.2)


def _uniform(n, low, high, generator, device):
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values[:, None, None, None]


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma replicated over the three channels of a (B, 3, H, W) batch."""
    weights = torch.tensor(_LUMA, device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x * weights).sum(dim=1, keepdim=True).expand_as(x)


def rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Shift hue by ``turns`` (fraction of a full turn, per sample) by rotating the chroma
    plane of YIQ space; a linear approximation of an HSV hue shift."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device, dtype=x.dtype)
    angle = 2 * math.pi * turns.to(x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(len(x), 3, 3, device=x.device, dtype=x.dtype)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    transform = torch.linalg.inv(to_yiq) @ rotation @ to_yiq
    return torch.einsum("bij,bjhw->bihw", transform, x)


def color_jitter(x: torch.Tensor, aug: ViewAugmentation, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation and hue with factors drawn per sample."""
    n, dev = len(x), x.device
    x = x * _per_sample(_uniform(n, 1 - aug.brightness, 1 + aug.brightness, generator, dev))
    x = x.clamp(0, 1)
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * _per_sample(_uniform(n, 1 - aug.contrast, 1 + aug.contrast, generator, dev)) + mean).clamp(0, 1)
    gray = grayscale(x)
    x = ((x - gray) * _per_sample(_uniform(n, 1 - aug.saturation, 1 + aug.saturation, generator, dev)) + gray)
    return rotate_hue(x.clamp(0, 1), _uniform(n, -aug.hue, aug.hue, generator, dev)).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma (in pixels) per sample; kernel ~10% of the side."""
    n, c, h, w = x.shape
    size = max(3, int(0.1 * min(h, w)) | 1)
    offsets = torch.arange(size, device=x.device, dtype=x.dtype) - size // 2
    kernels = torch.exp(-offsets[None, :] ** 2 / (2 * sigmas[:, None].to(x.dtype) ** 2))
    kernels = (kernels / kernels.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)
    flat = x.reshape(1, n * c, h, w)
    pad = size // 2
    flat = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="reflect"), kernels[:, None, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, pad, pad), mode="reflect"), kernels[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def solarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Invert pixels at or above ``threshold``."""
    return torch.where(x >= threshold, 1.0 - x, x)


def augment_view(images: torch.Tensor, aug: ViewAugmentation, generator: torch.Generator) -> torch.Tensor:
    """Apply one view's flip and photometric augmentations to a uint8 or [0, 1] float (B, 3, H, W) batch.
    Returns float in [0, 1]; each op fires per sample with its Table S1 probability."""
    # The float copy is made contiguous (NCHW): the ops below run faster on it than on the
    # channels-last views the loaders hand out.
    x = images.to(torch.float32, memory_format=torch.contiguous_format)
    x = x / 255.0 if images.dtype == torch.uint8 else x
    n, dev = len(x), x.device

    def fires(p):
        return _per_sample(torch.rand(n, generator=generator, device=dev) < p)

    x = torch.where(fires(aug.flip_p), x.flip(-1), x)
    x = torch.where(fires(aug.jitter_p), color_jitter(x, aug, generator), x)
    x = torch.where(fires(aug.grayscale_p), grayscale(x), x)
    if aug.blur_p > 0:
        # BYOL's sigma range (0.1, 2.0) at 224 px, scaled to this resolution.
        scale = x.shape[-1] / 224
        sigmas = _uniform(n, 0.1 * scale, 2.0 * scale, generator, dev).clamp_min(1e-3)
        x = torch.where(fires(aug.blur_p), gaussian_blur(x, sigmas), x)
    if aug.solarize_p > 0:
        x = torch.where(fires(aug.solarize_p), solarize(x, aug.solarize_threshold), x)
    return x


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Per-channel standardisation of a [0, 1] float batch."""
    m = torch.tensor(mean, device=x.device, dtype=x.dtype)[None, :, None, None]
    s = torch.tensor(std, device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x - m) / s


def model_input(images: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """An un-augmented uint8 (B, C, H, W) batch as the network reads it: standardised floats
    in ``memory_format`` (evaluation and the duality check)."""
    return normalize(images.float() / 255.0).contiguous(memory_format=memory_format)
