"""PC-CLIP finetuning (methods.md §4.1): teach a model's text tower to describe image differences.

`finetune` is the entry point (`condsim finetune` calls it). By job: `data` (finetuning images,
training seeds only), `pairs` / `llm_pairs` (pairs and their difference sentences), `loss`
(symmetric InfoNCE, MSE variant), `towers` (each backend's trainable text tower and its export),
`loop` (Adam, exponential decay, resumable), `average` (weight average with the base),
`model_card`. Submodules are imported on use.
"""
