"""The tooling behind the ``course`` command: what runs the course, not what a lesson imports.

- ``cli``: ``course doctor | lessons | run | data | serve | pretrain``;
- ``runner``: finds the lessons and runs them headless (papermill), with HTML copies;
- ``serving``: the TF-Serving-compatible development server (``course serve``, started by
  ``course.serving.start`` when real TF Serving is not installed);
- ``pretrain``: regenerates the pretrained backbone in ``course/assets``;
- ``kernel``: installs the course's Jupyter kernel (quiet TensorFlow).

It may import the learner's package ``course``; ``course`` never imports it.
"""
