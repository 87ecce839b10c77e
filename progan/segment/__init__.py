"""The cloth segmenter: finds the laundry in a belt photo so that recoloring needs no mask.

:mod:`~progan.segment.network` is the U-Net, :mod:`~progan.segment.data` the photos, masks and
augmentations it trains on, :mod:`~progan.segment.trainer` its training,
:mod:`~progan.segment.refine` the guided upsampling to the photo's resolution and
:mod:`~progan.segment.segmenter` a trained one loaded for use.
"""
