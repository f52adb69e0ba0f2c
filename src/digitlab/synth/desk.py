"""A sheet of paper lying on a desk, photographed: the surface, the sheet in perspective,
notebook holes, a clip, a hand at an edge (the user-like generator's ``desk`` kind)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from digitlab.synth.scenes import lighting, random_ink, ruled_lines


def desk_surface(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A darker surface around the sheet: wood grain, a plain dark table or fabric (RGB)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    surface = str(rng.choice(["wood", "wood", "table", "fabric"]))
    if surface == "wood":
        angle = rng.uniform(0, np.pi)
        across = np.cos(angle) * xx + np.sin(angle) * yy  # the grain runs perpendicular
        wobble = smooth_noise(height, width, rng, cell=max(height, width) // 6) * 12.0
        period = rng.uniform(0.015, 0.05) * max(height, width)
        rings = 0.5 + 0.5 * np.sin(2 * np.pi * (across + wobble) / period)
        fibres = np.interp(across, np.arange(-width - height, width + height),
                           rng.normal(0, 1, 2 * (width + height)))  # fmt: skip
        shade = 0.85 + 0.12 * rings + 0.04 * fibres
        base = np.array([0.55, 0.37, 0.22], np.float32) * rng.uniform(0.45, 1.0)
    elif surface == "table":
        shade = 1.0 + 0.03 * smooth_noise(height, width, rng, cell=max(height, width) // 4)
        base = np.full(3, rng.uniform(0.06, 0.35), np.float32) + rng.normal(0, 0.03, 3)
    else:  # a lap: woven cloth with soft folds
        weave = np.sin(xx * rng.uniform(0.8, 1.6)) * np.sin(yy * rng.uniform(0.8, 1.6))
        folds = smooth_noise(height, width, rng, cell=max(height, width) // 5)
        shade = 0.9 + 0.05 * weave + 0.12 * folds
        base = np.clip(rng.uniform(0.08, 0.5, 3), 0.05, 0.5).astype(np.float32)
    return np.clip(shade[..., None] * base, 0.0, 1.0).astype(np.float32)


def smooth_noise(height: int, width: int, rng: np.random.Generator, cell: int) -> np.ndarray:
    """Smooth random field of about unit amplitude varying over ``cell`` pixels."""
    cell = max(cell, 2)
    coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2)).astype(np.float32)
    return upscale_free(coarse, height + 2 * cell, width + 2 * cell)[cell:-cell, cell:-cell][
        :height, :width
    ]


def upscale_free(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of a float image without clipping its values."""
    resized = Image.fromarray(image.astype(np.float32), "F").resize((width, height), Image.BICUBIC)
    return np.asarray(resized)


def perspective_coefficients(source: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
    """PIL ``PERSPECTIVE`` data mapping the 4 ``target`` points (output) to ``source`` (input)."""
    rows = []
    for (u, v), (x, y) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -x * u, -y * u])
        rows.append([0, 0, 0, x, y, 1, -x * v, -y * v])
    return tuple(np.linalg.solve(np.array(rows, float), source.reshape(-1).astype(float)))


def map_points(coefficients: tuple[float, ...], points: np.ndarray) -> np.ndarray:
    """Apply PIL perspective ``coefficients`` to (x, y) points."""
    a, b, c, d, e, f, g, h = coefficients
    x, y = points[:, 0], points[:, 1]
    den = g * x + h * y + 1
    return np.stack([(a * x + b * y + c) / den, (d * x + e * y + f) / den], axis=1)


def project(
    layer: np.ndarray, coefficients: tuple[float, ...], size: tuple[int, int]
) -> np.ndarray:
    """Warp a float layer from sheet coordinates into the photo (``size`` is width, height)."""
    image = Image.fromarray(layer.astype(np.float32), "F")
    warped = image.transform(size, Image.PERSPECTIVE, coefficients, Image.BILINEAR)
    return np.clip(np.asarray(warped), 0.0, 1.0)


def sheet_layers(
    sheet_h: int, sheet_w: int, pad: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Masks in sheet coordinates (sheet plus ``pad`` on every side): paper, board, clip."""
    h, w = sheet_h + 2 * pad, sheet_w + 2 * pad
    paper = np.zeros((h, w), np.float32)
    paper[pad : pad + sheet_h, pad : pad + sheet_w] = 1.0
    layers = {"paper": paper}
    if rng.random() < 0.3:  # notebook spiral holes along one side: the desk shows through
        radius = rng.uniform(0.008, 0.014) * max(sheet_h, sheet_w)
        gap = radius * rng.uniform(2.6, 3.6)
        inset = radius * rng.uniform(1.5, 2.5)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        side = int(rng.integers(4))
        along, across = (yy, xx) if side < 2 else (xx, yy)
        length = sheet_h if side < 2 else sheet_w
        edge = pad + inset if side % 2 == 0 else pad + (sheet_w if side < 2 else sheet_h) - inset
        phase = (along - pad) % gap - gap / 2
        inside = (along > pad) & (along < pad + length)
        holes = inside & (phase**2 + (across - edge) ** 2 <= radius**2)
        paper[holes] = 0.0
    if rng.random() < 0.25:  # a clipboard: a board under the sheet, a metal clip at its top
        board = np.zeros((h, w), np.float32)
        board[pad // 3 : h - pad // 3, pad // 3 : w - pad // 3] = 1.0
        clip = np.zeros((h, w), np.float32)
        clip_w = int(sheet_w * rng.uniform(0.25, 0.45))
        left = pad + (sheet_w - clip_w) // 2
        clip[pad // 3 : pad + int(0.07 * sheet_h), left : left + clip_w] = 1.0
        layers.update(board=board, clip=clip)
    return layers


def hand_mask(
    height: int, width: int, avoid: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray | None:
    """A hand (palm and fingers) reaching in from one edge of the photo, clear of ``avoid``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    size = min(height, width)
    x0, y0, x1, y1 = avoid
    for side in rng.permutation(4):
        inward = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}[int(side)]  # (dx, dy)
        t = rng.uniform(0.15, 0.85)
        cx, cy = {0: (t * width, 0), 1: (t * width, height), 2: (0, t * height),
                  3: (width, t * height)}[int(side)]  # fmt: skip
        mask = ellipse(xx, yy, cx, cy, inward, 0.11 * size, 0.17 * size)
        for k in range(4):
            offset = (k - 1.5) * 0.045 * size
            fx = cx + inward[0] * 0.15 * size - inward[1] * offset
            fy = cy + inward[1] * 0.15 * size + inward[0] * offset
            mask = np.maximum(mask, ellipse(xx, yy, fx, fy, inward, 0.07 * size, 0.02 * size))
        box = mask[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1]
        if box.size and not box.any():
            return ndi.gaussian_filter(mask, 1.5)
    return None


def ellipse(xx, yy, cx, cy, direction, along: float, across: float) -> np.ndarray:
    """A filled ellipse with its ``along`` radius pointing in ``direction`` (a unit vector)."""
    dx, dy = xx - cx, yy - cy
    u = dx * direction[0] + dy * direction[1]
    v = -dx * direction[1] + dy * direction[0]
    return ((u / along) ** 2 + (v / across) ** 2 <= 1.0).astype(np.float32)


def desk_scene(
    shape: np.ndarray, photo_shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A lit RGB photo of ``shape`` (ink coverage) written on a sheet lying on a desk.

    Returns the photo and the sheet's four corners, (x, y) in the photo's pixels.
    """
    h, w = photo_shape
    sheet_aspect = rng.choice([1.414, 1.294])  # A4 or letter, portrait or landscape
    sheet_h = int(min(h, w / sheet_aspect) * rng.uniform(0.55, 0.95))
    sheet_w = int(sheet_h * sheet_aspect)
    if rng.random() < 0.4:
        sheet_h, sheet_w = sheet_w, sheet_h
    sheet_h = max(sheet_h, int(1.5 * shape.shape[0]))
    sheet_w = max(sheet_w, int(1.5 * shape.shape[1]))
    pad = int(0.1 * max(sheet_h, sheet_w))
    layers = sheet_layers(sheet_h, sheet_w, pad, rng)
    top = pad + int(0.1 * sheet_h) if "clip" in layers else pad  # write below the clip
    pose, (x, y), seen = pose_with_digit_in_view(shape.shape, (sheet_h, sheet_w), pad, top,
                                                 (h, w), rng)  # fmt: skip
    ink_layer = np.zeros_like(layers["paper"])
    ink_layer[y : y + shape.shape[0], x : x + shape.shape[1]] = shape
    if rng.random() < 0.15:
        ink_layer = np.maximum(ink_layer, ruled_lines(*ink_layer.shape, rng) * layers["paper"])
    rgb = photograph_sheet(layers, ink_layer, pose.to_sheet, (h, w), rng)
    if rng.random() < 0.3:
        rgb = add_hand(rgb, seen, rng)
    rgb = rgb * lighting(h, w, rng, 0.4)[..., None]
    corners = np.array([[pad, pad], [pad + sheet_w, pad], [pad + sheet_w, pad + sheet_h],
                        [pad, pad + sheet_h]], float)  # fmt: skip
    return rgb, map_points(pose.to_photo, corners)


@dataclass(frozen=True)
class SheetPose:
    """Where the sheet lies in the photo, as PIL perspective data each way."""

    to_sheet: tuple[float, ...]  # photo (x, y) -> sheet (x, y), what PIL's transform wants
    to_photo: tuple[float, ...]  # sheet (x, y) -> photo (x, y)


def pose_with_digit_in_view(
    digit_shape: tuple[int, int],
    sheet_shape: tuple[int, int],
    pad: int,
    top: int,
    photo_shape: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[SheetPose, tuple[int, int], tuple[float, float, float, float]]:
    """A pose of the sheet and a place on it for the digit such that the digit is in view.

    Returns the pose, the digit's (x, y) on the sheet and its box in the photo.
    """
    (dh, dw), (sheet_h, sheet_w), (h, w) = digit_shape, sheet_shape, photo_shape
    margin = 0.03 * min(h, w)
    for attempt in range(40):
        cut_off = attempt < 30 and rng.random() < 0.35  # then give up on cutting the sheet
        pose = sheet_pose(sheet_h, sheet_w, pad, h, w, rng, cut_off)
        # Written inside the sheet's margins (a tenth of it), as people do.
        y = top + int(0.1 * sheet_h + rng.random() * (pad + 0.8 * sheet_h - top - dh))
        x = pad + int(0.1 * sheet_w + rng.random() * (0.8 * sheet_w - dw))
        corners = np.array([[x, y], [x + dw, y], [x, y + dh], [x + dw, y + dh]], float)
        seen = map_points(pose.to_photo, corners)
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        if x0 >= margin and y0 >= margin and x1 <= w - margin and y1 <= h - margin:
            break
    return pose, (x, y), (x0, y0, x1, y1)


def sheet_pose(
    sheet_h: int, sheet_w: int, pad: int, h: int, w: int, rng: np.random.Generator, cut_off: bool
) -> SheetPose:
    """A random pose of the sheet in the photo: rotated, a little skewed, perhaps cut off."""
    angle = np.radians(rng.uniform(-16, 16))
    sheet = np.array([[pad, pad], [pad + sheet_w, pad], [pad + sheet_w, pad + sheet_h],
                      [pad, pad + sheet_h]], float)  # fmt: skip
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    photo = (sheet - sheet.mean(axis=0)) @ rotation.T
    photo += rng.normal(0, 0.025, photo.shape) * max(sheet_h, sheet_w)  # perspective skew
    centre = np.array([w / 2, h / 2]) + rng.normal(0, 0.06, 2) * np.array([w, h])
    if cut_off:  # part of the sheet lies outside the frame
        centre += rng.choice([-1, 1], 2) * rng.uniform(0.0, 0.3, 2) * np.array([w, h])
    photo += centre
    return SheetPose(perspective_coefficients(sheet, photo), perspective_coefficients(photo, sheet))


def photograph_sheet(
    layers: dict[str, np.ndarray],
    ink_layer: np.ndarray,
    coefficients: tuple[float, ...],
    photo_shape: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """The desk with the (clipboard and) sheet and its ink on it, in RGB."""
    h, w = photo_shape
    rgb = desk_surface(h, w, rng)
    paper = project(layers["paper"], coefficients, (w, h))
    # The sheet's soft shadow on the desk
    shadow = ndi.gaussian_filter(np.roll(paper, (3, 3), axis=(0, 1)), 0.01 * max(h, w))
    rgb *= (1.0 - rng.uniform(0.1, 0.4) * shadow * (1 - paper))[..., None]
    if "board" in layers:
        board = project(layers["board"], coefficients, (w, h))[..., None]
        board_colour = np.array([0.5, 0.35, 0.2], np.float32) * rng.uniform(0.6, 1.0)
        rgb = rgb * (1 - board) + board_colour * board
    paper_colour = np.clip(rng.uniform(0.78, 0.98) + rng.normal(0.0, 0.03, 3), 0.6, 1.0)
    rgb = rgb * (1 - paper[..., None]) + paper_colour * paper[..., None]
    coverage = (project(ink_layer, coefficients, (w, h)) * paper)[..., None]
    rgb = rgb * (1 - coverage) + random_ink(rng) * coverage
    if "clip" in layers:
        clip = project(layers["clip"], coefficients, (w, h))[..., None]
        metal = rng.uniform(0.35, 0.7) * (0.9 + 0.2 * np.linspace(0, 1, w, dtype=np.float32))
        rgb = rgb * (1 - clip) + metal[None, :, None] * clip
    return rgb.astype(np.float32)


def add_hand(
    rgb: np.ndarray, avoid: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """A skin-coloured hand reaching in from an edge, away from the digit's box ``avoid``."""
    h, w = rgb.shape[:2]
    hand = hand_mask(h, w, avoid, rng)
    if hand is None:
        return rgb
    skin = np.array([(0.87, 0.67, 0.55), (0.7, 0.5, 0.38), (0.45, 0.3, 0.22),
                     (0.95, 0.8, 0.7)][rng.integers(4)], np.float32)  # fmt: skip
    shading = 0.85 + 0.1 * smooth_noise(h, w, rng, cell=min(h, w) // 8)
    return rgb * (1 - hand[..., None]) + (skin * shading[..., None]) * hand[..., None]
