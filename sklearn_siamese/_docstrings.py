"""Parameter descriptions shared by the estimators' docstrings.

A class docstring names them on a line ``.. shared-parameters:: name ...``,
which :func:`fill_shared_parameters` replaces by their text, so each
description is written once and the rendered docstrings stay complete for
``help()``, numpydoc and the doctests.
"""

import re

PARAMETER_DOCS = {
    "encoder": """\
    encoder : {"auto", "mlp", "conv", "koch"}, EncoderSpec, torch.nn.Module or callable, default="auto"
        The network mapping a sample of X to its embedding. ``"auto"`` is
        ``"conv"`` when X holds images (see ``image_shape``) and ``"mlp"``
        otherwise (sparse X included). A name selects a built-in encoder
        with default settings; an
        :class:`~sklearn_siamese.encoders.EncoderSpec` (e.g.
        ``MLPEncoder(hidden_sizes=(64,))``, or a pretrained torchvision or
        timm model, ``BackboneEncoder("resnet18")``) exposes its settings to
        ``GridSearchCV`` as ``encoder__<name>``; a module is deep-copied at
        fit (never mutated); a class or function is called with the
        arguments it accepts among ``n_features``, ``embedding_dim`` and
        ``input_shape`` (``image_shape_``). A module of yours receives
        batches shaped as X's samples: images ``(batch, C, H, W)`` when X
        holds images (``image_shape_`` is not None), rows
        ``(batch, n_features)`` otherwise.""",
    "image_shape": """\
    image_shape : "auto", tuple or None, default="auto"
        Whether X holds images, and their shape ``(height, width)`` or
        ``(channels, height, width)``; the result is ``image_shape_``.
        Images get ``encoder="auto"``'s ``ConvEncoder`` and
        ``augmentation="auto"``'s random shifts, and a module of yours
        receives them as ``(batch, C, H, W)``. ``"auto"``: X of shape
        ``(n, H, W)`` or ``(n, C, H, W)`` holds images, and so does a
        channels-last ``(n, H, W, C)`` with C = 1, 3 or 4 (transposed, as
        torchvision's ``ToTensor`` does; a shape that reads both ways is
        channels first); a data frame never
        does; a 2-D array whose number of columns is a square of side >= 8
        (64, 784, ...) is read as square images when ``encoder="auto"``,
        with a ``UserWarning`` (pass the shape, images, or None to silence
        it); other 2-D arrays are tabular. A tuple: the rows of a 2-D X
        are flattened images of that shape (e.g. after a ``StandardScaler``
        in a pipeline). None: X is tabular whatever its shape (images are
        flattened into rows of features).""",
    "embedding_dim": """\
    embedding_dim : int, default=None
        Size of the embedding. None means 32 for the built-in encoders and
        the module's own output size for a user module; when both are given
        they must agree.""",
    "early_stopping": """\
    early_stopping : bool, default=True
        Stop when the leave-one-out 1-nearest-neighbour accuracy on the
        held-out validation classes (``valid_precision_at_1`` in
        ``history_``) has not improved for ``n_iter_no_change`` epochs, and
        restore the best epoch's weights. (The validation pair loss is
        recorded too, but it rises on unseen classes while their
        recognition still improves, so it is not what is monitored.)
        Only active when validation classes are held out.""",
    "normalize": """\
    normalize : bool, default=True
        Whether embeddings are scaled to unit L2 norm.""",
    "max_epochs": """\
    max_epochs : int, default=30
        Number of epochs (each draws ``samples_per_epoch`` samples).""",
    "samples_per_epoch": """\
    samples_per_epoch : "auto" or int, default="auto"
        Samples an epoch draws for training (``ceil(samples_per_epoch /
        batch_size)`` optimiser steps). ``"auto"`` is one pass over the
        training samples, but at least 4096, so that on small data sets
        training and the patience of early stopping do not shrink to a
        few dozen steps, and at most 20 passes (below 205 samples), so
        that a hundred samples are not drawn a thousand times over.""",
    "max_time": """\
    max_time : float, default=None
        Training budget in seconds of wall-clock time ("train for 10
        minutes": ``max_time=600``), on top of ``max_epochs``. Training
        ends after the last epoch expected to finish within the budget
        (at least one epoch runs); see
        :class:`~sklearn_siamese.callbacks.TimeBudget`, which it adds. With
        early stopping the best epoch's weights are kept, as usual. None
        sets no budget.""",
    "batch_size": """\
    batch_size : int, default=64
        Samples per batch.""",
    "samples_per_class": """\
    samples_per_class : int, default=4
        ``K``: samples of each class in a batch. When the training data
        has fewer than ``batch_size // K`` classes, each class gets
        ``batch_size // n_classes`` samples instead, so batches stay full
        (6 classes and ``batch_size=64``: 10 samples of each).""",
    "sampler": """\
    sampler : {"auto", "pk", "random_pairs"}, default="auto"
        How training batches are drawn (:mod:`sklearn_siamese.sampling`).
        ``"pk"``: ``P`` classes x ``samples_per_class`` samples
        (:class:`~sklearn_siamese.sampling.PKSampler`), from which the
        miner picks pairs or triplets. ``"random_pairs"``: consecutive
        balanced random pairs, or triplets for the triplet loss
        (:class:`~sklearn_siamese.sampling.RandomPairSampler`), as Koch et
        al. trained. ``"auto"`` is ``"random_pairs"`` for
        ``mining="random_pairs"`` (a miner that uses exactly the sampled
        pairs) and ``"pk"`` otherwise.""",
    "accelerator": """\
    accelerator : accelerate.Accelerator, default=None
        If given, training runs through skorch's ``AccelerateMixin`` with this
        Hugging Face ``Accelerator`` (data-parallel across processes when
        launched with ``accelerate launch`` or ``torchrun``). The accelerator
        places the model (``device`` is then ignored); each process draws
        its own batches and forms pairs within them. See README, "Scaling
        out".""",
    "n_epochs_": """\
    n_epochs_ : int
        Number of epochs run to the end (an interrupted epoch does not
        count).""",
    "lr": """\
    lr : float, default=1e-3
        Learning rate.""",
    "lr_schedule": """\
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"constant"`` trains at ``lr`` throughout. ``"cosine"`` anneals
        the learning rate from ``lr`` to zero along a half cosine over the
        training budget, updated every step: over ``max_epochs`` epochs,
        or over ``max_time`` seconds when that runs out first
        (:class:`~sklearn_siamese.callbacks.CosineLR`, which it adds), so a
        time-limited fit also ends on small steps. Each fit (and the second
        run of ``refit``) anneals over its own budget; a ``warm_start``
        continues along the curve of the new ``max_epochs``.""",
    "optimizer": """\
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or callable, default="adam"
        Optimiser name or a ``torch.optim.Optimizer`` class (or a callable
        that takes the parameters and ``lr``, e.g.
        ``functools.partial(torch.optim.SGD, momentum=0.9)``). Its other
        arguments are given as ``optimizer__<name>``.""",
    "optimizer__kwargs": """    **optimizer__kwargs : dict
        Arguments of the optimiser, named ``optimizer__<name>`` as in
        skorch: ``optimizer="sgd", optimizer__momentum=0.9,
        optimizer__nesterov=True``. They are parameters like the others
        (``get_params``, ``set_params``, ``clone``, ``GridSearchCV`` grids
        such as ``{"optimizer__momentum": [0.5, 0.9]}``). ``lr`` and
        ``weight_decay`` are set by their own parameters; a name the
        optimiser does not take is refused at ``fit`` with a
        ``ValueError``.""",
    "weight_decay": """\
    weight_decay : float, default=0.0
        Weight decay passed to the optimiser.""",
    "n_iter_no_change": """\
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs (of ``samples_per_epoch``
        samples each).""",
    "refit": """\
    refit : bool, default=True
        With validation classes held out: once early stopping has chosen
        the number of epochs (the epoch of best ``valid_precision_at_1``),
        train again from the same initial weights on every class, the
        validation classes included, for that many epochs, so the final
        model learns from all the classes it was given (measured in the
        faces and Omniglot benchmarks: better than the first run's model,
        and than training every class with no validation). The fit then
        takes up to twice as long; with ``max_time`` the second run gets
        what the first left of the budget (it may then run fewer epochs),
        and is skipped (the first run's model is kept, and
        ``validation_history_`` is not set) when that is less than half
        what the chosen epochs need. ``history_`` is the second run's;
        ``validation_history_``, ``validation_score_`` and
        ``validation_classes_`` describe the first. ``False`` keeps the
        first run's model. No effect when nothing is held out.""",
    "refit_verifier": """\
    refit : bool, default=False
        With validation classes held out: once early stopping has chosen
        the number of epochs (the epoch of best ``valid_precision_at_1``),
        train again from the same initial weights on every class, the
        validation classes included, for that many epochs (see
        :class:`SiameseEmbedder`, where it is the default). The fit then
        takes up to twice as long; with ``max_time`` the second run gets
        what the first left of the budget, and is skipped when that is
        less than half what the chosen epochs need. ``history_`` is the
        second run's; ``validation_history_``, ``validation_score_`` and
        ``validation_classes_`` describe the first. The verifier then has
        no held-out pairs left to calibrate ``threshold_`` on and keeps
        0.5 (calibrate it with ``calibrate_threshold``), which is why it is
        not the default here. No effect when nothing is held out.""",
    "augmentation": """\
    augmentation : "auto", "affine", RandomAffine, callable or None, default="auto"
        Augmentation of training batches. ``"affine"`` applies the random
        affine distortions of Koch et al. 2015
        (:class:`~sklearn_siamese.augmentation.RandomAffine`, image shape
        taken from the encoder's ``input_shape``, images in X or a square
        row; translation up to ``max(1, width / 14)`` pixels). ``"auto"``
        is ``"affine"`` when ``encoder="auto"`` reads X as images and None
        (no augmentation) otherwise. Any
        callable ``augmentation(X_batch)`` returning a tensor of the same
        shape works. Seeded by ``random_state``.""",
    "rotation_classes": """\
    rotation_classes : bool, default=False
        Whether ``fit`` adds every training image rotated by 90, 180 and
        270 degrees as 3 new classes (Koch et al. 2015, Vinyals et al.
        2016, Snell et al. 2017 on Omniglot), quadrupling the training
        classes; an epoch then covers the rotated copies too. Validation
        classes are not rotated and ``classes_`` stays the classes of
        ``y``. Rows must be square images: the shape comes from the
        encoder's ``input_shape``, a ``RandomAffine`` augmentation's
        ``image_shape`` or a square number of features. Use it for
        rotation-sensitive images such as handwriting, not for data whose
        rotated versions are the same class.""",
    "instance_weight": """\
    instance_weight : float, default=0.5
        Weight of an instance-discrimination term (NT-Xent between two
        views of each training sample, Chen et al. 2020) added to the loss.
        The views differ by ``augmentation`` and dropout. It keeps the
        embedding informative about individual samples rather than only
        the training classes, which helps on classes unseen in training
        (measured in README: 0.5 is the default, 0 turns it off); it
        doubles the encoder passes per batch.""",
    "precision": """\
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of the encoder's forward and backward passes in
        training. ``"bfloat16"`` runs them under ``torch.autocast`` (CPU or
        CUDA) while weights, optimiser state, loss and distances stay
        float32. ``"auto"`` chooses bfloat16 where the hardware has bfloat16
        units (CPUs with AVX-512 BF16 or AMX, CUDA GPUs that support it)
        and float32 elsewhere: measured in README, it trains as accurately
        at equal epochs and faster. ``transform`` and ``embed`` always run
        in float32. Built-in convolutional encoders train in the
        channels_last layout in either precision (faster, same values).""",
    "validation_history_": """\
    validation_history_ : skorch.History
        Only with ``refit=True`` when classes were held out: the history of
        the first run, the one whose validation chose the number of epochs.""",
    "validation_score_": """\
    validation_score_ : float or None
        Leave-one-out precision@1 of the trained embedding on the samples of
        the validation classes that early stopping monitors (at most
        2,000), None when no classes were held out. Compare it with
        ``baseline_score_``.""",
    "baseline_score_": """\
    baseline_score_ : float or None
        The same score of the input features themselves (Euclidean
        nearest neighbour): what the embedding must beat to be worth it.""",
    "precision_": """\
    precision_ : {"float32", "bfloat16"}
        The training precision ``precision`` resolved to on this device.""",
    "device": """\
    device : str or torch.device, default="cpu"
        Where to train and infer, e.g. ``"cuda"``.""",
    "callbacks": """\
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (``EarlyStopping``, ``Checkpoint``,
        ``LRScheduler``, ...), as instances or ``(name, callback)`` tuples.
        They are copied at fit.""",
    "verbose": """\
    verbose : int, default=0
        0 is silent, 1 prints a table row per epoch, whose ``remaining_s``
        is the expected seconds of training left (the epochs left times
        the mean epoch's duration, or what is left of ``max_time`` if
        sooner; every ``history_`` row has it), 2 also shows a progress
        bar per epoch.""",
    "n_features_in_": """\
    n_features_in_ : int
        Number of features seen in fit: for X given as images
        ``(n, H, W)`` or ``(n, C, H, W)``, the values of one image
        (``C * H * W``); every method accepts the images or their
        flattened rows alike.""",
    "image_shape_": """\
    image_shape_ : tuple of int or None
        ``(channels, height, width)`` of the images X held in fit (the
        ``image_shape`` parameter resolved), else None. Encoders with
        ``input_shape=None``, ``augmentation="affine"`` and your own
        modules use it.""",
    "warm_start": """\
    warm_start : bool, default=False
        When True and the estimator is already fitted, ``fit`` continues the
        previous training on the same ``X, y`` from the last finished epoch
        (weights, optimiser state and random states) until ``max_epochs``
        epochs in total have run, as ``n_estimators`` does in
        ``GradientBoostingClassifier``: resuming an interrupted fit or a
        checkpoint gives the same model as an uninterrupted run (exactly so
        when no early stopping runs: its patience and best epoch start
        afresh on continuation). Other parameters keep the values of the
        first fit.""",
}

_MARKER = re.compile(r"^( *)\.\. shared-parameters:: (.+)$", re.MULTILINE)


def fill_shared_parameters(cls):
    """Class decorator: expand the ``.. shared-parameters::`` lines of ``cls.__doc__``."""
    cls.__doc__ = _MARKER.sub(lambda m: "\n".join(PARAMETER_DOCS[name] for name in m.group(2).split()), cls.__doc__)
    return cls
