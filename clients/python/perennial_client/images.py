"""Converts what callers have (file bytes, paths, PIL images, numpy arrays) into Image messages."""
import os

from ._stubs import sample_pb2

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def to_image(image):
    """Returns a perennial.v1.Image for `image`.

    Accepts: an Image message (returned as is); bytes of a PNG or JPEG file (sent encoded, the
    server decodes them); a path (str or os.PathLike) to such a file; a PIL.Image.Image (sent as
    raw 8-bit grayscale or RGB pixels; other modes are converted to RGB); a numpy uint8 array of
    shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). Raises TypeError / ValueError otherwise.
    """
    if isinstance(image, sample_pb2.Image):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not (data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC)):
            raise ValueError("image bytes are neither PNG nor JPEG (pass raw pixels as a numpy "
                             "array or a PIL image)")
        return sample_pb2.Image(encoded=data)
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            return to_image(f.read())
    if hasattr(image, "mode") and hasattr(image, "tobytes") and hasattr(image, "size"):
        return _from_pil(image)
    if hasattr(image, "shape") and hasattr(image, "dtype"):
        return _from_array(image)
    raise TypeError("unsupported image type %s: pass PNG/JPEG bytes, a path, a PIL image or a "
                    "numpy uint8 array" % type(image).__name__)


def _from_pil(image):
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    width, height = image.size
    channels = 1 if image.mode == "L" else 3
    return sample_pb2.Image(raw=sample_pb2.RawImage(
        height=height, width=width, channels=channels, pixels=image.tobytes()))


def _from_array(array):
    if str(array.dtype) != "uint8":
        raise ValueError("numpy image must have dtype uint8, got %s" % array.dtype)
    if array.ndim == 2:
        height, width = array.shape
        channels = 1
    elif array.ndim == 3 and array.shape[2] in (1, 3, 4):
        height, width, channels = array.shape
    else:
        raise ValueError("numpy image must be (H, W) or (H, W, C) with C in 1, 3, 4; got shape %s"
                         % (array.shape,))
    return sample_pb2.Image(raw=sample_pb2.RawImage(
        height=height, width=width, channels=channels, pixels=array.tobytes(order="C")))
