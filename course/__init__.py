"""Helpers for the image-classification course.

Importing ``course`` is cheap and has no side effects: TensorFlow, Keras and matplotlib are
imported only when a function that needs them runs. Start every lesson with::

    import course
    env = course.setup(seed=0)   # before importing keras: seeds, quiet logs, devices

then ``from course import data, plots``.
"""

from course.env import Env, setup

__all__ = ["Env", "setup", "__version__"]
__version__ = "0.1.0"
