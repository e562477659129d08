"""blurvid: one motion-blurred photo in, the sharp frames hidden in its exposure out.

    >>> import blurvid
    >>> frames = blurvid.extract("photo.jpg")     # (7, H, W, 3) float32 RGB in [0, 1]
    >>> clip = blurvid.interpolate("photo.jpg", levels=2)   # clip.frames (42, H, W, 3), clip.times
    >>> for seconds, frame in blurvid.video_frames("clip.mp4"):   # 7 sharp frames per input frame
    ...     pass
"""

from blurvid._version import __version__
from blurvid.errors import BlurvidError
from blurvid.pipeline import Extractor, extract, interpolate, reblur_psnr
from blurvid.video import video_frames

__all__ = ["__version__", "BlurvidError", "Extractor", "extract", "interpolate", "reblur_psnr",
           "video_frames"]
