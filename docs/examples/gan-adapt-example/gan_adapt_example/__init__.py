"""An example gan-adapt plugin (see docs/plugins.md).

* loss ``colour_moments``: per-channel mean and standard deviation of G_t(w) against the target;
* encoder ``resnet18``: torchvision's ImageNet ResNet-18, pooled features, as an image encoder
  that any encoder-based term (``clip_consistency``, ``patch_nce``...) can use;
* command ``gan-adapt colour-stats IMAGE``;
* observers ``on_run_start`` / ``on_step_end`` / ``on_run_end``: ``example-report.json`` in the
  run folder.
"""

__version__ = "0.1.0"
