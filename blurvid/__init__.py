"""blurvid: one motion-blurred photo in, the sharp frames hidden in its exposure out.

    >>> import blurvid
    >>> frames = blurvid.extract("photo.jpg")     # (7, H, W, 3) float32 RGB in [0, 1]
"""

from blurvid._version import __version__
from blurvid.errors import BlurvidError
from blurvid.pipeline import Extractor, extract, reblur_psnr

__all__ = ["__version__", "BlurvidError", "Extractor", "extract", "reblur_psnr"]
