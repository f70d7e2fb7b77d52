"""Case studies: they read a run's results and load its model to look closer.

- ablation / ablate: set a run's best single neurons to their mean (or zero) and measure the
  model's loss with and without the feature (`python -m probing.ablate RUN`);
- polysemantic: a neuron's top activations over a broad corpus, dedicated or polysemantic
  (`python -m probing.case_studies.polysemantic RUN`);
- weights: per-layer statistics of the MLP weights, the weight side of superposition by depth
  (`python -m probing.case_studies.weights MODEL...`, or `--runs RUN_DIR...` for the models
  runs probed, from their own configs; `python -m analysis.superposition --weights` runs that).
Each writes files beside the run or into a folder (probing.case_study_outputs names them), and
analysis reads those files; nothing here is imported by analysis.
"""
