"""blurvid: one motion-blurred photo in, the sharp frames hidden in its exposure out."""
from blurvid._version import __version__
__all__ = ["__version__"]
