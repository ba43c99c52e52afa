"""Image ops: one name and one parameter vocabulary each, shared by every backend.

Each op declares its parameter schema and a sampler. The sampler draws the op's random values from the generator
the pipeline hands it and returns them as plain JSON values: that dict is what the manifest records and what a
replay feeds back to a backend. Backends (``augment.compile.backend_*``) only apply drawn values; they never draw.
Geometric values that depend on the image size (crop boxes, holes) are drawn in pixels of the image the op sees.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_serializer, model_validator

from augment.ops.params import FloatRange, IntRange, integer, uniform
from augment.ops.registry import OpDef, OpParams, list_as_tuple
from augment.seeding import child_seed

__all__ = [
    "Border",
    "Interpolation",
    "NoParams",
    "RotateParams",
    "ZoomParams",
    "AffineParams",
    "PerspectiveParams",
    "RandomResizedCropParams",
    "CropParams",
    "ElasticParams",
    "elastic_displacement",
    "GaussianNoiseParams",
    "gaussian_noise_field",
    "SaltPepperParams",
    "salt_pepper_masks",
    "BrightnessContrastParams",
    "HSVParams",
    "GammaParams",
    "GrayscaleParams",
    "GaussianBlurParams",
    "gaussian_kernel_size",
    "MotionBlurParams",
    "motion_kernel",
    "SharpenParams",
    "JpegParams",
    "CutoutParams",
    "IMAGE_OPS",
]

Border = Literal["constant", "reflect", "replicate"]
Interpolation = Literal["nearest", "linear", "cubic"]


class NoParams(OpParams):
    pass


def _nothing(params, rng, ctx) -> dict:
    return {}


# --- annotation rules -----------------------------------------------------------------------------------------

# Keys that only matter for annotated images. The canonical spec leaves them out while they hold their
# defaults, so every spec written before they existed keeps its hash (and its runs stay resumable).
_ANNOTATION_KEYS = ("min_visibility", "min_area", "flip_pairs", "erase_covered")


class AnnotationRules(OpParams):
    """Base of the params of ops that take annotation rules; omits the rules from the spec while at defaults."""

    @model_serializer(mode="wrap")
    def _omit_default_rules(self, handler):
        data = handler(self)
        fields = type(self).model_fields
        for key in _ANNOTATION_KEYS:
            if key in data and key in fields and getattr(self, key) == fields[key].default:
                del data[key]
        return data


class BoxRules(AnnotationRules):
    """Box rules of a geometric op (annotated images only; images without annotations ignore them)."""

    min_visibility: float = Field(
        0.0, ge=0, le=1,
        description="annotations: drop an object when less than this fraction of its area stays in the image",
    )
    min_area: float = Field(
        1.0, ge=0, le=1e9, description="annotations: drop an object whose visible area is under this many pixels"
    )


class FlipParams(AnnotationRules):
    flip_pairs: Annotated[tuple[tuple[str | int, str | int], ...], BeforeValidator(list_as_tuple)] = Field(
        (), description="annotations: keypoints (names or indices) that swap roles in a mirror, e.g. [[left_eye, right_eye]]"
    )


# --- geometry -------------------------------------------------------------------------------------------------


class RotateParams(BoxRules):
    degrees: FloatRange(ge=-360, le=360) = Field((-15.0, 15.0), description="rotation angle in degrees, counter-clockwise")
    border: Border = Field("constant", description="how pixels outside the source are filled")
    fill: int = Field(0, ge=0, le=255, description="fill value when border is constant")
    interpolation: Interpolation = "linear"


def _sample_rotate(p: RotateParams, rng, ctx) -> dict:
    return {"angle": uniform(rng, p.degrees)}


class ZoomParams(BoxRules):
    scale: FloatRange(gt=0, le=10) = Field(
        (0.9, 1.1), description="zoom factor about the centre; >1 zooms in, <1 zooms out (borders filled)"
    )
    border: Border = "constant"
    fill: int = Field(0, ge=0, le=255)
    interpolation: Interpolation = "linear"


def _sample_zoom(p: ZoomParams, rng, ctx) -> dict:
    return {"scale": uniform(rng, p.scale)}


class AffineParams(BoxRules):
    degrees: FloatRange(ge=-360, le=360) = Field((0.0, 0.0), description="rotation in degrees")
    translate: FloatRange(ge=-1, le=1) = Field((-0.1, 0.1), description="shift as a fraction of width/height")
    scale: FloatRange(gt=0, le=10) = Field((1.0, 1.0), description="isotropic scale factor")
    shear: FloatRange(ge=-89, le=89) = Field((0.0, 0.0), description="horizontal shear in degrees")
    border: Border = "constant"
    fill: int = Field(0, ge=0, le=255)
    interpolation: Interpolation = "linear"


def _sample_affine(p: AffineParams, rng, ctx) -> dict:
    return {
        "angle": uniform(rng, p.degrees),
        "translate_x": uniform(rng, p.translate),
        "translate_y": uniform(rng, p.translate),
        "scale": uniform(rng, p.scale),
        "shear": uniform(rng, p.shear),
    }


class PerspectiveParams(BoxRules):
    distortion: FloatRange(ge=0, le=0.5) = Field(
        (0.05, 0.15), description="how far each corner moves inwards, as a fraction of the side"
    )
    border: Border = "constant"
    fill: int = Field(0, ge=0, le=255)
    interpolation: Interpolation = "linear"


def _sample_perspective(p: PerspectiveParams, rng, ctx) -> dict:
    # Corners in order top-left, top-right, bottom-right, bottom-left; each moves towards the inside.
    signs = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    offsets = [[sx * uniform(rng, p.distortion), sy * uniform(rng, p.distortion)] for sx, sy in signs]
    return {"corners": offsets}


class RandomResizedCropParams(BoxRules):
    scale: FloatRange(gt=0, le=1) = Field((0.5, 1.0), description="crop area as a fraction of the image area")
    ratio: FloatRange(gt=0, le=10) = Field((3 / 4, 4 / 3), description="crop aspect ratio (width / height)")
    size: Annotated[tuple[int, int] | None, BeforeValidator(list_as_tuple)] = Field(
        None, description="output [height, width]; default keeps the input size"
    )
    interpolation: Interpolation = "linear"

    @model_validator(mode="after")
    def _positive_size(self):
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"size must be two positive integers, got {list(self.size)}")
        return self


def _sample_random_resized_crop(p: RandomResizedCropParams, rng, ctx) -> dict:
    # The torchvision recipe: ten tries at a box of the drawn area and ratio, then a centre crop fallback.
    area = ctx.height * ctx.width
    log_ratio = (math.log(p.ratio[0]), math.log(p.ratio[1]))
    for _ in range(10):
        target = area * uniform(rng, p.scale)
        aspect = math.exp(uniform(rng, log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= ctx.width and 0 < h <= ctx.height:
            top = integer(rng, (0, ctx.height - h))
            left = integer(rng, (0, ctx.width - w))
            return {"top": top, "left": left, "height": h, "width": w}
    in_ratio = ctx.width / ctx.height
    if in_ratio < p.ratio[0]:
        w, h = ctx.width, int(round(ctx.width / p.ratio[0]))
    elif in_ratio > p.ratio[1]:
        h, w = ctx.height, int(round(ctx.height * p.ratio[1]))
    else:
        w, h = ctx.width, ctx.height
    return {"top": (ctx.height - h) // 2, "left": (ctx.width - w) // 2, "height": h, "width": w}


class CropParams(BoxRules):
    height: int = Field(..., ge=1, le=65535, description="crop height in pixels")
    width: int = Field(..., ge=1, le=65535, description="crop width in pixels")
    position: Literal["random", "center"] = "random"


def _sample_crop(p: CropParams, rng, ctx) -> dict:
    if p.height > ctx.height or p.width > ctx.width:
        raise ValueError(f"crop {p.height}x{p.width} is larger than the image ({ctx.height}x{ctx.width})")
    if p.position == "center":
        return {"top": (ctx.height - p.height) // 2, "left": (ctx.width - p.width) // 2}
    return {"top": integer(rng, (0, ctx.height - p.height)), "left": integer(rng, (0, ctx.width - p.width))}


class ElasticParams(BoxRules):
    alpha: FloatRange(ge=0, le=1000) = Field((20.0, 40.0), description="displacement strength in pixels")
    sigma: FloatRange(gt=0, le=100) = Field((4.0, 6.0), description="smoothness of the displacement field")
    border: Border = "reflect"
    fill: int = Field(0, ge=0, le=255)
    interpolation: Interpolation = "linear"


def _sample_elastic(p: ElasticParams, rng, ctx) -> dict:
    return {"alpha": uniform(rng, p.alpha), "sigma": uniform(rng, p.sigma), "field_seed": child_seed(rng)}


def elastic_displacement(height: int, width: int, alpha: float, sigma: float, field_seed: int) -> np.ndarray:
    """The (2, H, W) pixel displacement field of an elastic op, regenerated from its recorded seed."""
    import cv2

    field = np.random.default_rng(field_seed).uniform(-1, 1, size=(2, height, width)).astype(np.float32)
    ksize = int(2 * math.ceil(3 * sigma) + 1)
    for i in range(2):
        field[i] = cv2.GaussianBlur(field[i], (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT_101)
    return field * np.float32(alpha)


# --- noise ----------------------------------------------------------------------------------------------------


class GaussianNoiseParams(OpParams):
    sigma: FloatRange(ge=0, le=255) = Field((5.0, 20.0), description="noise standard deviation in 0-255 units")
    per_channel: bool = Field(True, description="independent noise per channel (else the same for all)")


def _sample_gaussian_noise(p: GaussianNoiseParams, rng, ctx) -> dict:
    return {"sigma": uniform(rng, p.sigma), "noise_seed": child_seed(rng)}


def gaussian_noise_field(shape: tuple[int, ...], sigma: float, noise_seed: int, per_channel: bool) -> np.ndarray:
    g = np.random.default_rng(noise_seed)
    if per_channel or len(shape) == 2:
        return (g.standard_normal(shape, dtype=np.float32) * np.float32(sigma))
    plane = g.standard_normal(shape[:2], dtype=np.float32) * np.float32(sigma)
    return np.repeat(plane[:, :, None], shape[2], axis=2)


class SaltPepperParams(OpParams):
    amount: FloatRange(ge=0, le=1) = Field((0.01, 0.05), description="fraction of pixels replaced")
    salt_vs_pepper: float = Field(0.5, ge=0, le=1, description="share of replaced pixels set to white")


def _sample_salt_pepper(p: SaltPepperParams, rng, ctx) -> dict:
    return {"amount": uniform(rng, p.amount), "salt_vs_pepper": p.salt_vs_pepper, "noise_seed": child_seed(rng)}


def salt_pepper_masks(height: int, width: int, amount: float, salt_vs_pepper: float, noise_seed: int):
    g = np.random.default_rng(noise_seed)
    hit = g.random((height, width)) < amount
    salt = g.random((height, width)) < salt_vs_pepper
    return hit & salt, hit & ~salt


# --- colour ---------------------------------------------------------------------------------------------------


class BrightnessContrastParams(OpParams):
    brightness: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="brightness factor; 1 keeps the image")
    contrast: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="contrast factor; 1 keeps the image")


def _sample_brightness_contrast(p: BrightnessContrastParams, rng, ctx) -> dict:
    return {"brightness": uniform(rng, p.brightness), "contrast": uniform(rng, p.contrast)}


class HSVParams(OpParams):
    hue: FloatRange(ge=-0.5, le=0.5) = Field((-0.05, 0.05), description="hue shift as a fraction of the colour circle")
    saturation: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="saturation factor")
    value: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="value (brightness) factor")


def _sample_hsv(p: HSVParams, rng, ctx) -> dict:
    return {"hue": uniform(rng, p.hue), "saturation": uniform(rng, p.saturation), "value": uniform(rng, p.value)}


class GammaParams(OpParams):
    gamma: FloatRange(gt=0, le=10) = Field((0.8, 1.25), description="gamma exponent; <1 brightens, >1 darkens")


def _sample_gamma(p: GammaParams, rng, ctx) -> dict:
    return {"gamma": uniform(rng, p.gamma)}


class GrayscaleParams(OpParams):
    keep_channels: bool = Field(True, description="keep the channel count (gray replicated) instead of one channel")


# --- blur, sharpen, compression, dropout ---------------------------------------------------------------------


class GaussianBlurParams(OpParams):
    sigma: FloatRange(gt=0, le=50) = Field((0.5, 1.5), description="blur standard deviation in pixels")


def _sample_gaussian_blur(p: GaussianBlurParams, rng, ctx) -> dict:
    sigma = uniform(rng, p.sigma)
    return {"sigma": sigma, "kernel_size": gaussian_kernel_size(sigma)}


def gaussian_kernel_size(sigma: float) -> int:
    return int(2 * math.ceil(3 * sigma) + 1)


class MotionBlurParams(OpParams):
    kernel_size: IntRange(ge=3, le=101) = Field((3, 9), description="length of the motion streak in pixels (odd)")
    angle: FloatRange(ge=-360, le=360) = Field((0.0, 360.0), description="direction of motion in degrees")


def _sample_motion_blur(p: MotionBlurParams, rng, ctx) -> dict:
    size = integer(rng, p.kernel_size)
    return {"kernel_size": size if size % 2 else size + 1, "angle": uniform(rng, p.angle)}


def motion_kernel(kernel_size: int, angle: float) -> np.ndarray:
    """A normalised line kernel through the centre at ``angle`` degrees, sampled at sub-pixel steps."""
    k = np.zeros((kernel_size, kernel_size), dtype=np.float32)
    c = (kernel_size - 1) / 2
    theta = math.radians(angle)
    for t in np.linspace(-c, c, 4 * kernel_size):
        x, y = c + t * math.cos(theta), c - t * math.sin(theta)
        k[int(round(y)), int(round(x))] += 1.0
    return k / k.sum()


class SharpenParams(OpParams):
    factor: FloatRange(ge=0, le=10) = Field((1.5, 2.5), description="sharpness factor; 1 keeps the image, 0 blurs")


def _sample_sharpen(p: SharpenParams, rng, ctx) -> dict:
    return {"factor": uniform(rng, p.factor)}


class JpegParams(OpParams):
    quality: IntRange(ge=1, le=100) = Field((50, 95), description="JPEG quality of the simulated re-encoding")


def _sample_jpeg(p: JpegParams, rng, ctx) -> dict:
    return {"quality": integer(rng, p.quality)}


class CutoutParams(AnnotationRules):
    holes: IntRange(ge=1, le=100) = Field((1, 3), description="number of rectangles erased")
    size: FloatRange(gt=0, le=1) = Field((0.1, 0.25), description="rectangle side as a fraction of the image side")
    fill: int = Field(0, ge=0, le=255)
    erase_covered: float | None = Field(
        None, gt=0, le=1,
        description="annotations: drop an object when the erased rectangles cover at least this fraction of its box",
    )


def _sample_cutout(p: CutoutParams, rng, ctx) -> dict:
    boxes = []
    for _ in range(integer(rng, p.holes)):
        h = max(1, int(round(uniform(rng, p.size) * ctx.height)))
        w = max(1, int(round(uniform(rng, p.size) * ctx.width)))
        top = integer(rng, (0, ctx.height - h))
        left = integer(rng, (0, ctx.width - w))
        boxes.append([top, left, h, w])
    return {"boxes": boxes, "fill": p.fill}


# --- multi-image ops (annotated datasets: partners come from the dataset, see augment.compile.multi_image) ---


class MosaicParams(BoxRules):
    center: FloatRange(ge=0.1, le=0.9) = Field(
        (0.3, 0.7), description="where the four tiles meet, as a fraction of the width and of the height"
    )


def _sample_mosaic(p: MosaicParams, rng, ctx) -> dict:
    # Partners are drawn as fractions of the sorted item list, so the draw does not depend on the dataset size.
    return {"center_x": uniform(rng, p.center), "center_y": uniform(rng, p.center),
            "partner_draws": [float(rng.random()) for _ in range(3)]}


class CopyPasteParams(AnnotationRules):
    probability: float = Field(0.5, ge=0, le=1, description="chance that each instance of the partner is pasted")
    occluded: float = Field(
        0.7, gt=0, le=1, description="drop an own object when pasted instances cover at least this fraction of it"
    )


def _sample_copy_paste(p: CopyPasteParams, rng, ctx) -> dict:
    return {"partner_draws": [float(rng.random())], "pick_seed": child_seed(rng)}


IMAGE_OPS: list[OpDef] = [
    OpDef("horizontal_flip", "image", FlipParams, "mirror left-right", sample=_nothing),
    OpDef("vertical_flip", "image", NoParams, "mirror top-bottom", sample=_nothing),
    OpDef("rotate", "image", RotateParams, "rotate about the centre, keeping the size", sample=_sample_rotate),
    OpDef("zoom", "image", ZoomParams, "scale about the centre, keeping the size (in or out)", sample=_sample_zoom),
    OpDef("affine", "image", AffineParams, "rotate, translate, scale and shear in one warp", sample=_sample_affine),
    OpDef("perspective", "image", PerspectiveParams, "move the four corners inwards", sample=_sample_perspective),
    OpDef(
        "random_resized_crop", "image", RandomResizedCropParams,
        "crop a random area and aspect ratio, then resize", sample=_sample_random_resized_crop,
    ),
    OpDef("crop", "image", CropParams, "cut a fixed-size window (random or centred)", sample=_sample_crop),
    OpDef("elastic", "image", ElasticParams, "smooth random local displacement", sample=_sample_elastic),
    OpDef("gaussian_noise", "image", GaussianNoiseParams, "add Gaussian pixel noise", sample=_sample_gaussian_noise),
    OpDef("salt_pepper", "image", SaltPepperParams, "set random pixels to white or black", sample=_sample_salt_pepper),
    OpDef(
        "brightness_contrast", "image", BrightnessContrastParams,
        "scale brightness and contrast", sample=_sample_brightness_contrast,
    ),
    OpDef("hsv", "image", HSVParams, "shift hue, scale saturation and value", sample=_sample_hsv),
    OpDef("gamma", "image", GammaParams, "gamma curve", sample=_sample_gamma),
    OpDef("grayscale", "image", GrayscaleParams, "convert to gray", sample=_nothing),
    OpDef("gaussian_blur", "image", GaussianBlurParams, "Gaussian blur", sample=_sample_gaussian_blur),
    OpDef("motion_blur", "image", MotionBlurParams, "linear motion streak", sample=_sample_motion_blur),
    OpDef("sharpen", "image", SharpenParams, "sharpen (or soften) edges", sample=_sample_sharpen),
    OpDef("jpeg", "image", JpegParams, "JPEG compression artefacts", sample=_sample_jpeg),
    OpDef("cutout", "image", CutoutParams, "erase random rectangles (coarse dropout)", sample=_sample_cutout),
    OpDef("mosaic", "image", MosaicParams, "four images in a 2x2 grid with their annotations (annotated datasets)",
          sample=_sample_mosaic),
    OpDef("copy_paste", "image", CopyPasteParams,
          "paste instances (masks or polygons) of another image (annotated datasets)", sample=_sample_copy_paste),
]

MULTI_IMAGE_OPS = frozenset({"mosaic", "copy_paste"})
