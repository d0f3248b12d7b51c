"""Experiment tracking: built-in observer plugins that mirror a run into TensorBoard or W&B.

Both are ordinary plugins (default plugins, like the networks): they implement only the observer
hooks ``on_run_start``, ``on_step_end`` and ``on_run_end`` of
:mod:`gan_adapt.plugin_host.hookspecs`, and read the images a run writes from its folder. They do
nothing unless the recipe turns them on (``[output] tensorboard = true`` / ``wandb = true``), and
their libraries are imported only then. A plugin author can copy either as a template.

* :mod:`.tensorboard_observer`: ``RUN_DIR/tensorboard`` through ``torch.utils.tensorboard``;
* :mod:`.wandb_observer`: ``RUN_DIR/wandb`` through ``wandb`` (the optional extra
  ``gan-adapt[wandb]``);
* :mod:`.run_images`: which sample grids a run has written since the tracker last looked.
"""
