"""Grading for the image-classification course, built on nbgrader."""
