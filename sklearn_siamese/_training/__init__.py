"""The private training machinery the estimators compose, one job per module.

The estimators' ``fit`` (:class:`~sklearn_siamese._base._BaseSiamese`)
calls these in turn; none of them calls back into the estimator:

- ``checks``: input checks with our own messages, the image shape, the device.
- ``data``: validation classes, rotated classes, the dataset and the
  samplers' batch wrappers.
- ``encoder``: the embedding module from the ``encoder`` parameter, probed
  once; the training augmentation.
- ``backbones``: pretrained torchvision or timm models made into encoders
  (:class:`~sklearn_siamese.encoders.BackboneEncoder` builds them here).
- ``precision``: bf16 autocast and fast-kernel choices.
- ``net``: the skorch net (:class:`~sklearn_siamese._training.net.SiameseNet`),
  its batch iterator and the optimizer arguments.
- ``accelerate``: the net under Hugging Face Accelerate (imported when used).
- ``out_of_core``: compact, memory-mapped and sparse X, converted batch by batch.
- ``inference``: embedding rows in fixed blocks after training.
"""
