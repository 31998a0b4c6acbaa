"""Looking at runs and data: training curves
(``tools/analysis/plot_curves.py``) and painted training samples
(``tools/analysis/browse_dataset.py``)."""
