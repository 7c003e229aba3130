"""The paper's Table S1 augmentations (BYOL protocol) as batched torch ops on the device.

FFCV does the random-resized crop while decoding (pipelines.seeded_crop); the flip, colour
jitter, grayscale, Gaussian blur and solarization are applied here, after the batch reaches
the device, with independent randomness per sample drawn from a seeded generator (FFCV's
own random ops use unseeded numba state, so a run could not be repeated).  Each op follows
torchvision's functional op (the reference code's), colour jitter included: brightness,
contrast, saturation and an HSV hue shift in a random order per image.  Normalisation is
done here too (FFCV 1.0.2's NormalizeImage placed after ToTorchImage hangs the loader on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601-2, as torchvision's rgb_to_grayscale
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class ViewAugmentation:
    """Probabilities and strengths of one view's augmentations after the crop (Table S1);
    blur sigmas are in pixels at 224 px and scale with the resolution."""
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 1.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5


VIEW_1 = ViewAugmentation(blur_p=1.0, solarize_p=0.0)
VIEW_2 = ViewAugmentation(blur_p=0.1, solarize_p=0.2)
"""Table S1's two views: the one place its values are stated (the config's defaults read them)."""


def _uniform(n, low, high, generator, device):
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values[:, None, None, None]


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma replicated over the three channels of a (B, 3, H, W) batch (RandomGrayscale)."""
    weights = torch.tensor(LUMA, device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x * weights).sum(dim=1, keepdim=True).expand_as(x)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale towards black: factor 0 is black, 1 the image."""
    return (x * _per_sample(factor)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean luma: factor 0 is flat grey, 1 the image."""
    mean = grayscale(x)[:, :1].mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _per_sample(factor) * (x - mean)).clamp(0, 1)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's own grayscale: factor 0 is grey, 1 the image."""
    gray = grayscale(x)
    return (gray + _per_sample(factor) * (x - gray)).clamp(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> hue in [0, 1), saturation, value."""
    r, g, b = x.unbind(dim=1)
    value, _ = x.max(dim=1)
    chroma = value - x.min(dim=1).values
    gray = chroma == 0
    safe_chroma = torch.where(gray, torch.ones_like(chroma), chroma)
    saturation = chroma / torch.where(gray, torch.ones_like(value), value)
    # Hue in sixths of a turn, from whichever channel is the maximum (red wins ties, then green).
    red_max = value == r
    green_max = (value == g) & ~red_max
    blue_max = ~red_max & ~green_max
    hue = (red_max * ((g - b) / safe_chroma) + green_max * (2.0 + (b - r) / safe_chroma)
           + blue_max * (4.0 + (r - g) / safe_chroma))
    hue = torch.where(gray, torch.zeros_like(hue), hue)
    return torch.stack([torch.remainder(hue / 6.0, 1.0), saturation, value], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv``."""
    hue, saturation, value = x.unbind(dim=1)
    sector = torch.floor(hue * 6.0)
    within = hue * 6.0 - sector
    sector = sector.to(torch.int64) % 6
    low = (value * (1.0 - saturation)).clamp(0, 1)
    falling = (value * (1.0 - saturation * within)).clamp(0, 1)
    rising = (value * (1.0 - saturation * (1.0 - within))).clamp(0, 1)
    # For each sixth of the hue circle, which of (value, rising, falling, low) each channel takes.
    table = torch.stack([
        torch.stack([value, falling, low, low, rising, value]),
        torch.stack([rising, value, value, falling, low, low]),
        torch.stack([low, low, rising, value, value, falling]),
    ])  # (channel, sector, B, H, W)
    index = sector[None, None].expand(3, 1, *sector.shape)
    return table.gather(1, index)[:, 0].permute(1, 0, 2, 3)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue by ``shift`` (a fraction of a full turn, in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(x)
    hue = torch.remainder(hsv[:, 0] + shift[:, None, None].to(x.dtype), 1.0)
    return hsv_to_rgb(torch.stack([hue, hsv[:, 1], hsv[:, 2]], dim=1))


_JITTER_FUNCTIONS = {"brightness": adjust_brightness, "contrast": adjust_contrast,
                     "saturation": adjust_saturation, "hue": adjust_hue}


def jitter_orders(n: int, generator: torch.Generator, device) -> torch.Tensor:
    """(n, 4) a random order of the four jitter ops for each image (as ColorJitter draws)."""
    return torch.rand(n, len(JITTER_OPS), generator=generator, device=device).argsort(dim=1)


def color_jitter(x: torch.Tensor, aug: ViewAugmentation, generator: torch.Generator) -> torch.Tensor:
    """ColorJitter: brightness, contrast and saturation factors uniform in [max(0, 1 - s), 1 + s],
    a hue shift uniform in [-hue, hue], applied in a random order drawn per image."""
    n, dev = len(x), x.device
    factors = {
        "brightness": _uniform(n, max(0.0, 1 - aug.brightness), 1 + aug.brightness, generator, dev),
        "contrast": _uniform(n, max(0.0, 1 - aug.contrast), 1 + aug.contrast, generator, dev),
        "saturation": _uniform(n, max(0.0, 1 - aug.saturation), 1 + aug.saturation, generator, dev),
        "hue": _uniform(n, -aug.hue, aug.hue, generator, dev),
    }
    orders = jitter_orders(n, generator, dev)
    x = x.clone()
    for position in range(len(JITTER_OPS)):
        for op_index, name in enumerate(JITTER_OPS):
            chosen = (orders[:, position] == op_index).nonzero(as_tuple=True)[0]
            if len(chosen):
                x[chosen] = _JITTER_FUNCTIONS[name](x[chosen], factors[name][chosen])
    return x


def gaussian_blur(x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma (in pixels) per sample, reflect padding; the
    kernel spans about 10% of the side (23 px at 224, BYOL's)."""
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
        scale = x.shape[-1] / 224  # the sigma range is stated at 224 px
        sigmas = _uniform(n, aug.blur_sigma[0] * scale, aug.blur_sigma[1] * scale, generator, dev).clamp_min(1e-3)
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
