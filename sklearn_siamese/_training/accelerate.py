"""skorch net trained through Hugging Face Accelerate (imported only when used).

Data parallelism with our estimators works like this (see README, "Scaling
out"): every process runs the same ``fit`` on the same data; the accelerator
wraps the encoder in ``DistributedDataParallel`` so gradients are averaged
across processes after each backward pass. ``_BaseSiamese._train_sampler`` gives
every process its own training batches (its own random stream), and the loss
forms pairs and triplets inside each process's batch only: embeddings are not
gathered across processes.
"""

import torch
from skorch import NeuralNet
from skorch.hf import AccelerateMixin

from .net import SiameseNet


def _has_trainable_parameters(module):
    return any(p.requires_grad for p in module.parameters())


def _silent(*args, **kwargs):
    """A print sink that prints nothing."""


class AcceleratedNet(AccelerateMixin, SiameseNet):
    """``SiameseNet`` with skorch's ``AccelerateMixin``; module-level so it pickles.

    Four changes to the mixin, for data-parallel runs:

    * The modules are unwrapped (``DistributedDataParallel`` removed) after
      the callbacks' ``on_train_end``, not before, so ``EarlyStopping(
      load_best=True)`` restores weights saved from the wrapped module into
      the wrapped module.
    * A criterion without trainable parameters (our pair and triplet
      losses) is moved to the accelerator's device but not prepared:
      ``DistributedDataParallel`` refuses modules with nothing to train.
    * ``verbose=0`` silences the epoch table (the mixin's print sink
      ignores ``verbose``).
    * Validation outputs are not gathered across processes: the loss of a
      validation batch is computed from that process's embeddings and labels
      (gathering only the embeddings would pair them with the wrong labels).
      Every process evaluates the same validation batches with the same
      weights, so all processes record the same validation loss and early
      stopping stops them together.
    """

    def _initialize_accelerator(self):
        if self._wrapped_with_accelerator:
            return self
        all_criteria = self._criteria
        trainable = []
        for name in all_criteria:
            criterion = getattr(self, name + "_")
            if isinstance(criterion, torch.nn.Module) and not _has_trainable_parameters(criterion):
                setattr(self, name + "_", criterion.to(self.accelerator.device))
            else:
                trainable.append(name)
        self._criteria = trainable
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = all_criteria

    def _initialize_callbacks(self):
        if self.callbacks__print_log__sink == "auto" and not self.verbose:
            self.callbacks__print_log__sink = _silent
        return super()._initialize_callbacks()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.accelerator.wait_for_everyone()
        return NeuralNet.on_train_end(self, net, X=X, y=y, **kwargs)

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        if method_name == "on_train_end" and self.unwrap_after_train:
            self._unwrap_accelerator()

    def evaluation_step(self, batch, training=False):
        return NeuralNet.evaluation_step(self, batch, training=training)
