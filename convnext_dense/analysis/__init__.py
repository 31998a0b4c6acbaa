"""Looking at runs, data and models: training curves
(``tools/analysis/plot_curves.py``), painted training samples
(``tools/analysis/browse_dataset.py``) and what the speed and complexity tools
share (:mod:`.profiling`)."""
