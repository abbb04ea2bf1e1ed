"""What trains models: the built-in model's training script (and PC-CLIP finetuning).

The library (encoders, collection, conditions, methods, data, eval) never imports this package, as
open_clip keeps `open_clip_train` apart from `open_clip`. The built-in model's recipe is split by
job: `captions` (alt-text writer), `pool` (rendered, captioned, embedded training images),
`loop` (`train_builtin_model`, the training loop and export), `zero_shot` (the held-out check) and
`model_card`. Submodules are imported on use, so importing this package loads no model code.
"""
