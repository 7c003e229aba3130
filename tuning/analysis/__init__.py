"""Analysing trained checkpoints: the paper's analyses of one checkpoint's embeddings (spectra,
negative pairs, Table S4, CKA), side by side and as figures.  Reads checkpoints that one
pretraining (tuning.run) wrote; uses none of a campaign's services."""
