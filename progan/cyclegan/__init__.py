"""CycleGAN (Zhu et al. 2017): unpaired translation, here from laundry photos to one color.

A second kind of GAN beside ProGAN's parts, with its own networks (:mod:`.networks`), data
(:mod:`.domains`), training (:mod:`.trainer`) and measures (:mod:`.evaluate`); it shares the
backend adapter, checkpoints and k-means quantization with ProGAN. ``python -m progan.cyclegan``
trains and evaluates; ``python -m progan translate`` and the studio's recolor page use an export.
"""
