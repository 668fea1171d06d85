"""Plots as matplotlib figures (PNG files, TensorBoard images): samples, reconstructions,
latent interpolations, traversals and the 2-D manifold of a model, and a run's training
curves. `kinds.py` is the table the CLI and the TensorBoard logger draw from."""

from kgen.plots.curves import curves_figure
from kgen.plots.curves import read_scalars
from kgen.plots.figures import figure_to_array
from kgen.plots.figures import grid_figure
from kgen.plots.figures import save_figure
from kgen.plots.images import reconstructions_figure
from kgen.plots.images import samples_figure
from kgen.plots.kinds import PLOT_KINDS
from kgen.plots.kinds import PlotKind
from kgen.plots.kinds import PlotSettings
from kgen.plots.kinds import check_supported
from kgen.plots.kinds import summary_figures
from kgen.plots.kinds import supported_kinds
from kgen.plots.latent import interpolate
from kgen.plots.latent import interpolation_figure
from kgen.plots.latent import manifold_codes
from kgen.plots.latent import manifold_figure
from kgen.plots.latent import traversal_codes
from kgen.plots.latent import traversal_figure
from kgen.plots.latent import traverse
