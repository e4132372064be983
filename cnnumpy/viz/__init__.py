"""Pictures: training curves, filters, feature maps, confusion matrix, predictions (matplotlib, imported only
when a picture is asked for; `pip install 'cnnumpy[train]'`).

Each plot_* function writes one PNG at exactly `path` (its folder is created; the file is written atomically,
so a kill never leaves half a picture) and returns the path. Figures are drawn at 100 dpi, so a figure of
w x h inches is a PNG of 100w x 100h pixels.

figure.py holds what every picture shares; curves.py the training curves; filters.py and feature_maps.py what a
network learned and what it sees; evaluation.py the confusion matrix and the predictions; segmentation.py images beside their true and predicted masks. Every name is imported
from here: cnnumpy.viz.plot_history, cnnumpy.viz.plot_filters, ...
"""
from .curves import HistoryLike, plot_history
from .evaluation import plot_confusion_matrix, plot_predictions
from .feature_maps import feature_maps, plot_feature_maps
from .figure import DPI, grid
from .filters import filter_tiles, first_conv, plot_filters
from .segmentation import class_colors, plot_segmentation
from .explain import plot_attack, plot_attribution, plot_class_visualization
from .gradients import LayerGradient, gradient_maps, plot_gradient_maps

__all__ = ["DPI", "HistoryLike", "feature_maps", "filter_tiles", "first_conv", "grid", "plot_confusion_matrix",
           "plot_feature_maps", "plot_filters", "plot_history", "plot_predictions", "class_colors", "plot_segmentation",
           "plot_attack", "plot_attribution", "plot_class_visualization", "LayerGradient", "gradient_maps",
           "plot_gradient_maps"]
