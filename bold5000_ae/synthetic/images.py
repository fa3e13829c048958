"""Stimulus images for the brain generator (``brain.py``) and the visual factors measured on them.

Why measure the factors on the rendered pictures: the voxel tuning is then a function of what an
image model can see (mean luminance, contrast, dominant orientation, spatial frequency, colour
warmth), not of hidden draws. Why shapes: living images hold a curved blob and non-living ones a
rotated polygon of the same area, colour and position distribution, so the category needs the
shape; no global statistic (mean colour, contrast, orientation energy) tells the classes apart.
"""

from __future__ import annotations

import numpy as np

FACTORS = ("category", "luminance", "contrast", "orientation", "spatial_frequency", "warmth")


def _grating(size: int, theta: float, freq: float, phase: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    return np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + phase)


def _shape(size: int, living: bool, rng: np.random.Generator) -> np.ndarray:
    """A filled shape of area ~ 12% of the picture at a random place: a wobbly blob (living) or
    a randomly rotated triangle, square or pentagon (non-living)."""
    y, x = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.3, 0.7, 2)
    angle = np.arctan2(y - cy, x - cx)
    dist = np.hypot(x - cx, y - cy)
    radius = 0.2
    if living:
        wobble = sum(rng.uniform(0, 0.12) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
                     for k in (2, 3))
        edge = radius * (1 + wobble)
    else:
        sides = int(rng.integers(3, 6))
        rot = rng.uniform(0, 2 * np.pi)
        half = np.pi / sides
        local = np.mod(angle - rot, 2 * half) - half
        edge = radius * np.cos(half) / np.cos(local) * (1.0 + 0.25 * (sides == 3))
    return (dist <= edge).astype(float)


def render_images(rng: np.random.Generator, living: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 pictures: a coloured grating background plus one shape."""
    out = np.empty((len(living), size, size, 3), np.uint8)
    for i, alive in enumerate(living):
        lum = rng.uniform(0.3, 0.7)
        contrast = rng.uniform(0.05, 0.3)
        theta = rng.uniform(0, np.pi)
        freq = rng.uniform(1.5, 6.0)
        warm = rng.uniform(-0.15, 0.15)
        grey = lum + contrast * _grating(size, theta, freq, rng.uniform(0, 2 * np.pi))
        tint = np.array([1 + warm, 1.0, 1 - warm])
        rgb = grey[..., None] * tint
        shape = _shape(size, bool(alive), rng)[..., None]
        colour = rng.uniform(0.15, 0.85, 3)
        rgb = rgb * (1 - shape) + colour * shape
        out[i] = np.clip(rgb * 255, 0, 255).astype(np.uint8)
    return out


def global_statistics(images: np.ndarray) -> np.ndarray:
    """(n, 5) luminance, contrast, orientation, spatial frequency and warmth of each picture."""
    rgb = images.astype(np.float64) / 255.0
    grey = rgb.mean(-1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    energy = (gx ** 2 + gy ** 2).sum((1, 2)) + 1e-12
    lum = grey.mean((1, 2))
    contrast = grey.std((1, 2))
    orientation = ((gx ** 2 - gy ** 2).sum((1, 2))) / energy
    freq = np.sqrt(energy / grey[0].size) / (contrast + 1e-6)
    warmth = (rgb[..., 0] - rgb[..., 2]).mean((1, 2))
    return np.stack([lum, contrast, orientation, freq, warmth], axis=1)


def image_factors(images: np.ndarray, living: np.ndarray) -> np.ndarray:
    """(n, 6) tuning coordinates: category (+1 living, -1 not) and the five measured visual
    statistics, each z-scored over the stimulus set."""
    stats = global_statistics(images)
    stats = (stats - stats.mean(0)) / (stats.std(0) + 1e-12)
    return np.concatenate([np.where(living, 1.0, -1.0)[:, None], stats], axis=1)
