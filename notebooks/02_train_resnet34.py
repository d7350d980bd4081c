# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -papermill,-execution
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -papermill,-widgets
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# (chapter-train)=
# # A ResNet34 learns the vote fractions
#
# The seed study trained a torchvision ResNet34 in a plain PyTorch loop to predict the 37 vote
# fractions of every galaxy (MSE loss, Adam, 8 epochs, an 80/20 split) and reached a validation
# RMSE of 0.110 on the real data. Here fastai trains the same network with a one-cycle schedule
# on images decoded once into memory, with augmentation that suits galaxies (any rotation, any
# flip), and compares two output heads: a plain one and one that respects the decision tree.
# The trained weights are saved with safetensors for the next chapter.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import artifacts, evaluate, model, paths, study
from helpers.imagecache import load_image_array
from helpers.schema import COLUMNS, ID_COLUMN, TRAIN_IMAGES

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout (images_training_rev1/)
run_dir = "data/processed/demo"  # reads labels.parquet; writes model.safetensors, model.json, history.csv
arch = "resnet34"  # resnet18 / resnet34 / resnet50 (the seed study's appendix compared them)
image_size = 64  # pixels fed to the net (224 on the real-data profile)
crop = 212  # central square cut from the 424 px cutout before resizing
epochs = 5  # one-cycle epochs per head
batch_size = 64
lr = 0.002  # peak learning rate; None uses the learning-rate finder's suggestion
valid_pct = 0.2  # hold-out share, split with `seed`
seed = 42
n_train = 2000  # galaxies used to train and hold out (None: all); the rest stay unseen for chapters 3-7
pretrained = False  # ImageNet weights from the torch hub cache (not available offline: mock default is False)
heads = ["linear", "tree"]  # heads to train and compare; the last one is saved for chapter 3
tta = True  # also report predictions averaged over the 8 rotations/flips
mixed_precision = False  # float16 autocast + gradient scaling (CUDA GPUs only; the GPU profile)
channels_last = False  # channels-last memory format (fastest convolutions on recent GPUs)

# %%
start_note = "ImageNet weights" if pretrained else "random weights (trained from scratch: no ImageNet weights offline)"
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed,
                                                 note=f"**Network:** {arch} from {start_note}.")

# %% [markdown]
# ## The images, decoded once
#
# Chapter 1 handed on the galaxies that passed the checks (`labels.parquet`). Their images are
# centre-cropped and resized once into a cache keyed by the files, the crop and the size, so no
# epoch decodes a JPEG again. The hold-out split is seeded. With `n_train`, only a seeded sample
# of the galaxies is used here; the others are never seen by the network, and chapters 3-7
# score what it learned on them (and on the hold-out). `split.parquet` records which is which.

# %%
if pretrained:
    model.check_pretrained(arch)  # fails at once, saying where the weights file must go
table = artifacts.read_aligned(run_path / "labels.parquet", None, "01_labels")
every_id = table[ID_COLUMN].to_numpy()
if n_train is not None and n_train < len(table):
    table = table.sample(n=n_train, random_state=seed).sort_values(ID_COLUMN)
ids = table[ID_COLUMN].to_numpy()
targets = table[COLUMNS].to_numpy(dtype=np.float32)
images = load_image_array([data_path / TRAIN_IMAGES / f"{i}.jpg" for i in ids], size=image_size, crop=crop)
dls = model.make_dataloaders(images, targets, valid_pct=valid_pct, seed=seed, bs=batch_size, ids=ids,
                         stats="imagenet" if pretrained else "train")
train_rows, valid_rows = dls.split.train, dls.split.valid
split = evaluate.split_frame(every_id, ids[train_rows], ids[valid_rows])
evaluate.write_split(run_path, split)
print(f"{len(ids)} galaxies at {image_size}x{image_size} px: {len(train_rows)} to train, "
      f"{len(valid_rows)} held out; {int((split['set'] == evaluate.UNUSED).sum())} more never used here")

# %% [markdown]
# A training batch as the network sees it: every galaxy turned by a random angle and flipped
# at random, since a galaxy on the sky has no preferred orientation.

# %%
xb, _ = dls.train.one_batch()
fig, axes = plt.subplots(1, 8, figsize=(12, 1.8))
for ax, img in zip(axes, xb[:8].cpu(), strict=True):
    img = img.permute(1, 2, 0).numpy()
    ax.imshow((img - img.min()) / (img.max() - img.min() + 1e-9))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Choosing the learning rate
#
# fastai's range test raises the rate batch by batch and records the loss; the suggestion
# ("valley") sits where the loss falls fastest. The weights are restored afterwards.

# %%
# NBVAL_IGNORE_OUTPUT
learn = model.build_learner(dls, arch=arch, head=heads[0], pretrained=pretrained, seed=seed,
                        mixed_precision=mixed_precision, channels_last=channels_last)
found = model.find_lr(learn)
plt.figure(figsize=(5, 3))
plt.semilogx(found.lrs, found.losses)
plt.axvline(found.lr, color="C3", linestyle="--", label=f"suggestion {found.lr:.1e}")
plt.xlabel("learning rate")
plt.ylabel("training loss (MSE)")
plt.legend(frameon=False)
plt.show()
peak_lr = found.lr if lr is None else lr
print(f"training with a peak learning rate of {peak_lr:.1e}")

# %% [markdown]
# ## Training both heads
#
# The *linear* head ends in 37 sigmoids, one per answer. The *tree* head, as in the Kaggle
# winner's network, turns the answers of each question into fractions that sum to one and
# scales them by the parent answer, so every prediction obeys the decision tree by
# construction. Both start from the same seed and train for the same epochs.

# %%
# NBVAL_IGNORE_OUTPUT
histories, learners, seconds = {}, {}, {}
for head in heads:
    learners[head] = model.build_learner(dls, arch=arch, head=head, pretrained=pretrained, seed=seed,
                                     mixed_precision=mixed_precision, channels_last=channels_last)
    started = time.perf_counter()
    histories[head] = model.train(learners[head], epochs=epochs, lr=peak_lr)
    seconds[head] = time.perf_counter() - started
history = pd.concat(histories, names=["head"]).reset_index(level=0)
history.drop(columns="time").round(4)  # epoch times: history.csv and metrics.json

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
for head, h in histories.items():
    ax1.plot(h["epoch"], h["train_loss"], label=f"{head}: train")
    ax1.plot(h["epoch"], h["valid_loss"], "--", label=f"{head}: hold-out")
    ax2.plot(h["epoch"], h["valid_rmse"], marker="o", label=head)
ax1.set(xlabel="epoch", ylabel="MSE", title="loss")
ax2.set(xlabel="epoch", ylabel="RMSE", title="hold-out RMSE")
ax1.legend(frameon=False, fontsize=8)
ax2.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# ## How good is it?
#
# The hold-out RMSE over all 37 fractions, with its 95% interval (a bootstrap over the held-out
# galaxies), next to honest reference points: always predicting the training mean, the seed
# study's 0.110 and the Kaggle winner's 0.0749. The last two were measured on the *real* Galaxy
# Zoo at full resolution; on the mock they only give a scale.

# %%
valid_targets = targets[valid_rows]
train_mean = targets[train_rows].mean(axis=0, keepdims=True)
baseline = model.mean_baseline_rmse(targets[train_rows], valid_targets)
predictions = {head: model.predict(learners[head], images[valid_rows]) for head in heads}
scored = {f"{arch}, {head} head": predictions[head] for head in heads}
if tta:
    scored |= {f"{arch}, {head} head + 8-fold TTA": model.predict(learners[head], images[valid_rows], tta=True)
               for head in heads}
scored["training mean (no image)"] = np.broadcast_to(train_mean, valid_targets.shape)
estimates = {name: evaluate.bootstrap(evaluate.rmse_of, pred, valid_targets, seed=seed)
             for name, pred in scored.items()}
best = {head: estimates[f"{arch}, {head} head"] for head in heads}

# %%
# NBVAL_IGNORE_OUTPUT
results = pd.DataFrame([{"model": name, "hold-out RMSE": e.value, "95% interval": e.format(".4f"),
                         "data": source["kind"]} for name, e in estimates.items()]
                       + [{"model": name, "hold-out RMSE": value, "95% interval": "",
                           "data": "real (published)"} for name, value in model.REFERENCE_RMSE.items()])
results.round({"hold-out RMSE": 4})

# %% [markdown]
# Do the two heads differ? Both are scored on the same held-out galaxies, so the interval that
# decides is the one of their *paired* difference (each bootstrap draw scores both heads on the
# same galaxies). The networks must beat the mean prediction, and the tree head's outputs must
# obey the tree.

# %%
if "tree" in heads:
    assert np.abs(model.tree_sums(predictions["tree"])).max() < 1e-4
behind = [head for head, e in best.items() if e.high >= baseline]
head_sentence = "Only one head was trained."
head_difference = None
if len(heads) >= 2:
    a, b = heads[0], heads[1]
    head_difference = evaluate.difference(lambda p, q, y: evaluate.rmse_of(p, y),
                                          lambda p, q, y: evaluate.rmse_of(q, y),
                                          predictions[a], predictions[b], valid_targets, seed=seed)
    head_sentence = evaluate.compare_sentence(f"the {a} head", best[a], f"the {b} head", best[b],
                                              head_difference, what="hold-out RMSE", spec=".4f",
                                              higher_is_better=False)
print("every head beats the mean prediction" if not behind else
      f"WARNING: the {', '.join(behind)} head(s) do not beat the mean prediction: train longer or on more galaxies")

# %% [markdown]
# Which questions are hard? Errors per question (RMSE over its answers), for each head.

# %%
# NBVAL_IGNORE_OUTPUT
per_question = pd.DataFrame({head: model.per_question_rmse(predictions[head], valid_targets) for head in heads})
ax = per_question.plot.barh(figsize=(7, 4.5))
ax.invert_yaxis()
ax.set_xlabel("hold-out RMSE")
plt.show()

# %% [markdown]
# ## What this chapter hands on
#
# The last head's weights (`model.safetensors`) with the config that rebuilds the net
# (`model.json`; nothing is pickled), the training history of both heads (`history.csv`), and
# the chapter's part of `metrics.json`.

# %%
# NBVAL_IGNORE_OUTPUT
saved = heads[-1]
model.save_model(learners[saved], run_path, {"crop": crop, "epochs": epochs, "lr": peak_lr,
                                         "data_source": source["kind"],
                                         "split": {"file": evaluate.SPLIT_FILE,
                                                   **split["set"].value_counts().to_dict()}})
artifacts.write_atomic(run_path / "history.csv", lambda tmp: history.to_csv(tmp, index=False))
print(f"saved the {saved} head to {paths.relative(run_path / 'model.safetensors')}")

# %%
headlines = {"holdout_rmse": {head: round(e.value, 5) for head, e in best.items()},
             "mean_prediction_rmse": round(baseline, 5)}
if head_difference is not None:
    headlines["head_difference"] = round(head_difference.value, 5)
metrics = study.close_chapter(run_path, "train", {
    "data_source": source["kind"],
    "arch": arch, "head_saved": saved, "image_size": image_size, "pretrained": pretrained,
    "epochs": epochs, "lr": peak_lr, "train_galaxies": int(len(train_rows)),
    "holdout_galaxies": int(len(valid_rows)),
    "unused_galaxies": int((split["set"] == evaluate.UNUSED).sum()),
    "holdout_rmse": {head: e.to_dict(5) for head, e in best.items()},
    "holdout_rmse_all": {name: e.to_dict(5) for name, e in estimates.items()},
    "head_difference": head_difference.to_dict(5) if head_difference else None,
    "mean_prediction_rmse": round(baseline, 5),
    "training_seconds": {head: round(value, 1) for head, value in seconds.items()},
}, headlines=headlines, source=source, glued={
    "rmse_saved": best[saved].format(".4f"), "rmse_mean": f"{baseline:.4f}", "saved_head": saved,
    "n_train": int(len(train_rows)), "n_holdout": int(len(valid_rows)), "head_sentence": head_sentence,
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, the {glue:text}`saved_head` head trained on
# {glue:text}`n_train` galaxies reaches a hold-out RMSE of {glue:text}`rmse_saved` (95% interval
# over the {glue:text}`n_holdout` held-out galaxies), against {glue:text}`rmse_mean` for always
# predicting the mean. Between the heads: {glue:text}`head_sentence`. Its weights go on to
# chapter 3, which turns every galaxy into a 512-d code.
