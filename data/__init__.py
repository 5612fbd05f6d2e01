"""Dataset helpers: TFRecord writing and the ImageNet conversion pieces.

This package deliberately imports nothing at package level: the conversion's worker
processes are started with ``spawn`` and import ``data.images``; keeping this file empty
keeps TensorFlow out of them (importing it costs seconds and hundreds of MB per worker).
"""
