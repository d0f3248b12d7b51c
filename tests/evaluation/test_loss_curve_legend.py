"""The loss-curve figure's legends sit beside the panels, never over the curves (issue 28)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gan_adapt.engine.outputs import plot_loss_curves


def test_legends_do_not_cover_the_curves(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    records = [{"phase": phase, "step": step, "kind": "k",
                **{f"term_{i}": 1.0 / (step + 1 + i) for i in range(8)}}
               for phase in ("search", "adapt") for step in range(50)]
    assert plot_loss_curves(records, tmp_path / "curves.png")
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        panel = ax.get_window_extent(renderer)
        assert legend.x0 >= panel.x1 or not legend.overlaps(panel), (legend, panel)
    plt.close("all")
