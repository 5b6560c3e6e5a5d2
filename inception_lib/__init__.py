"""Inception V2, module by module: the model of Szegedy et al. (CVPR 2016) and tools to see inside it.

The package's folders are its layers, each importing only those before it:

- ``model``: the network (torch only);
- ``assets``: the bundled photos, checkpoints and recorded runs, and how to read them;
- ``analysis``: measures a model (shapes, costs, receptive fields, feature maps), never trains it;
- ``training`` and ``inference``: headless (no plotting, no widgets), runnable under ``torchrun``;
- ``draw``: figures and HTML for all of the above;
- ``explorers``: the notebooks' widgets, the only users of ipywidgets;
- ``cli``: the command line (``python -m inception_lib --help``).
"""

from .model import *  # noqa: F403  (the public API is the model layer's)
from .model import __all__ as __all__
