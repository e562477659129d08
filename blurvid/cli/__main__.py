"""``python -m blurvid.cli`` (e.g. under ``torchrun``): the ``blurvid`` command."""

from blurvid.cli import main

main()
