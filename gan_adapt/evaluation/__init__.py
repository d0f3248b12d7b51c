"""Evaluation of adapted generators: metrics, the evaluation protocol, sheets and reports.

* :mod:`.metrics`: the metric functions (pairwise LPIPS, CLIP cosine, Fréchet distance, KID);
* :mod:`.features`: FID/KID feature extractors (Inception-v3 via torch-fidelity, or an encoder);
* :mod:`.metric_models`: which LPIPS/CLIP measure a run, built reproducibly;
* :mod:`.runs`: opening a finished run folder (recipe, G_s, G_t, target);
* :mod:`.evaluate`: the evaluation protocol and ``eval.json``;
* :mod:`.compare`: side-by-side sheets and interpolation strips;
* :mod:`.report`: the self-contained HTML report;
* :mod:`.metric_help`: what each metric means.

The ``eval``, ``compare`` and ``report`` commands are in :mod:`gan_adapt.cli.evaluation`.

See ``docs/evaluation.md`` for definitions and protocols.
"""
