"""Synthetic AudioSet/MedVidCL-layout datasets (``python -m locomt.synth``): the generator's parameters
(``config``), the generative rule (``rule``), clip rendering and mp4 writing (``clips``) and the
official metadata layouts (``layout``). Import from those modules; this package imports nothing."""
