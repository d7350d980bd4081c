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
# # A residual network learns the vote fractions
#
# The seed study trained a torchvision ResNet34 in a plain PyTorch loop to predict the 37 vote
# fractions of every galaxy (MSE loss, Adam, 8 epochs, an 80/20 split) and reached a validation
# RMSE of 0.110 on the real data. Here fastai trains a network of the same family with a
# one-cycle schedule on images decoded once into memory, with an output head that respects the
# decision tree and augmentation that suits galaxies: any rotation and flip, and randomised
# *nuisances* (PSF, brightness, colour balance, sky, noise, display stretch, framing), so that
# the network cannot lean on the fingerprints of one camera or of the mock. The trained weights
# are saved with safetensors for the next chapter.
#
# Which network, and how much training, was measured rather than guessed:
# `benchmarks/bench_learning.py` trains this chapter's network under many recipes on 2 CPU
# cores and scores each one as chapters 3 and 6 do, on galaxies no recipe trained on (the curve
# is in `benchmarks/README.md`, "Learning per CPU-minute"). On a CPU, what counts is how many
# images pass through the network per minute: more epochs or more galaxies did equally well, a
# higher learning rate, smaller batches, smaller images and progressive resizing all did worse,
# and a second network for an ablation costs as much as the first. ResNet18, the seed study's
# smallest candidate, passes twice as many images per minute as ResNet34 and learned more in
# any budget measured. So the demo, sized for 2 CPU cores, trains one ResNet18 for as many epochs
# as its time allows (`arch`, `epochs`); the real-data profiles train the seed's ResNet34 from
# ImageNet weights (`params/kaggle.yml`).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

import helpers.net.augment
from helpers import artifacts, evaluate, paths, study
from helpers.data.imagecache import load_image_array
from helpers.data.schema import COLUMNS, ID_COLUMN, TRAIN_IMAGES
from helpers.net import inference, metrics, network, training

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout (images_training_rev1/)
run_dir = "data/processed/demo"  # reads labels.parquet; writes model.safetensors, model.json, history.csv
arch = "resnet18"  # resnet18 / resnet34 / resnet50 (the seed study trained resnet34)
image_size = 64  # pixels fed to the net (224 on the real-data profile)
crop = 212  # central square cut from the 424 px cutout before resizing
epochs = 16  # one-cycle epochs per network
batch_size = 64
lr = 0.002  # peak learning rate; None uses the learning-rate finder's suggestion
valid_pct = 0.2  # hold-out share, split with `seed`
seed = 42
n_train = 2000  # galaxies used to train and hold out (None: all); the rest stay unseen for chapters 3-7
pretrained = False  # ImageNet weights from the torch hub cache (not available offline: mock default is False)
heads = ["tree"]  # "linear" and/or "tree" (decision-tree head); the last one is saved for chapter 3
augment = "nuisances"  # training augmentation: "none", "rotations", "nuisances" (rotations + nuisances)
ablation = None  # also train the last head with this augmentation, to compare (None: skip)
tta = True  # also report the saved network's predictions averaged over the 8 rotations/flips
mixed_precision = False  # float16 autocast + gradient scaling (CUDA GPUs only; the GPU profile)
channels_last = True  # channels-last memory format (faster convolutions on GPUs and on this CPU)

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
    network.check_pretrained(arch)  # fails at once, saying where the weights file must go
table = artifacts.read_aligned(run_path / "labels.parquet", None, "01_labels")
every_id = table[ID_COLUMN].to_numpy()
if n_train is not None and n_train < len(table):
    table = table.sample(n=n_train, random_state=seed).sort_values(ID_COLUMN)
ids = table[ID_COLUMN].to_numpy()
targets = table[COLUMNS].to_numpy(dtype=np.float32)
images = load_image_array([data_path / TRAIN_IMAGES / f"{i}.jpg" for i in ids], size=image_size, crop=crop)
dls = training.make_dataloaders(images, targets, valid_pct=valid_pct, seed=seed, bs=batch_size, ids=ids,
                                augment=augment, stats="imagenet" if pretrained else "train")
train_rows, valid_rows = dls.split.train, dls.split.valid
split = evaluate.split_frame(every_id, ids[train_rows], ids[valid_rows])
evaluate.write_split(run_path, split)
print(f"{len(ids)} galaxies at {image_size}x{image_size} px: {len(train_rows)} to train, "
      f"{len(valid_rows)} held out; {int((split['set'] == evaluate.UNUSED).sum())} more never used here")

# %% [markdown]
# A training batch as the network sees it: every galaxy turned by a random angle and flipped
# at random, since a galaxy on the sky has no preferred orientation, and (with
# `augment="nuisances"`) blurred, brightened or dimmed, tinted, lifted or lowered in sky, made
# noisier, stretched and enlarged by random amounts (the ranges are in `helpers.net.augment`). The
# labels stay: none of these changes what a volunteer would say about the galaxy.

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
# With `lr: null`, fastai's range test raises the rate batch by batch and records the loss; the
# suggestion ("valley") sits where the loss falls fastest, and the weights are restored
# afterwards. A profile that sets `lr` (the demo's 2e-3 came from that test) skips it.

# %%
# NBVAL_IGNORE_OUTPUT
if lr is None:
    learn = training.build_learner(dls, arch=arch, head=heads[0], pretrained=pretrained, seed=seed,
                                   mixed_precision=mixed_precision, channels_last=channels_last)
    found = training.find_lr(learn)
    plt.figure(figsize=(5, 3))
    plt.semilogx(found.lrs, found.losses)
    plt.axvline(found.lr, color="C3", linestyle="--", label=f"suggestion {found.lr:.1e}")
    plt.xlabel("learning rate")
    plt.ylabel("training loss (MSE)")
    plt.legend(frameon=False)
    plt.show()
peak_lr = found.lr if lr is None else lr
print(f"training with a peak learning rate of {peak_lr:.1e}" + ("" if lr is None else " (set by the profile)"))

# %% [markdown]
# ## Training
#
# The *linear* head ends in 37 sigmoids, one per answer. The *tree* head, as in the Kaggle
# winner's network, turns the answers of each question into fractions that sum to one and
# scales them by the parent answer, so every prediction obeys the decision tree by
# construction. Each head is trained with the chosen augmentation; with `ablation`, the last
# head is trained a second time, from the same seed and for the same epochs, with the other
# augmentation only, so that the two networks differ in that alone.

# %%
# NBVAL_IGNORE_OUTPUT
trainings = {head: (head, augment) for head in heads}  # name: (head, augmentation)
if ablation is not None and ablation != augment:
    trainings[f"{heads[-1]}_{ablation}"] = (heads[-1], ablation)
histories, learners, seconds = {}, {}, {}
for name, (head, augmentation) in trainings.items():
    loaders = dls if augmentation == augment else training.make_dataloaders(
        images, targets, valid_pct=valid_pct, seed=seed, bs=batch_size, ids=ids, augment=augmentation,
        stats="imagenet" if pretrained else "train")
    learners[name] = training.build_learner(loaders, arch=arch, head=head, pretrained=pretrained, seed=seed,
                                            mixed_precision=mixed_precision, channels_last=channels_last)
    started = time.perf_counter()
    histories[name] = training.train(learners[name], epochs=epochs, lr=peak_lr)
    seconds[name] = time.perf_counter() - started
history = pd.concat(histories, names=["network"]).reset_index(level=0)
history.drop(columns="time").round(4)  # epoch times: history.csv and metrics.json

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
for name, h in histories.items():
    ax1.plot(h["epoch"], h["train_loss"], label=f"{name}: train")
    ax1.plot(h["epoch"], h["valid_loss"], "--", label=f"{name}: hold-out")
    ax2.plot(h["epoch"], h["valid_rmse"], marker="o", label=name)
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
saved = heads[-1]
valid_images, valid_targets = images[valid_rows], targets[valid_rows]
train_mean = targets[train_rows].mean(axis=0, keepdims=True)
baseline = metrics.mean_baseline_rmse(targets[train_rows], valid_targets)
predictions = {name: inference.predict(learners[name], valid_images) for name in trainings}
scored = {f"{arch}, {name}": predictions[name] for name in trainings}
if tta:
    scored[f"{arch}, {saved} + 8-fold TTA"] = inference.predict(learners[saved], valid_images, tta=True)
scored["training mean (no image)"] = np.broadcast_to(train_mean, valid_targets.shape)
estimates = {label: evaluate.bootstrap(evaluate.rmse_of, pred, valid_targets, seed=seed)
             for label, pred in scored.items()}
best = {name: estimates[f"{arch}, {name}"] for name in trainings}

# %%
# NBVAL_IGNORE_OUTPUT
results = pd.DataFrame([{"model": label, "hold-out RMSE": e.value, "95% interval": e.format(".4f"),
                         "data": source["kind"]} for label, e in estimates.items()]
                       + [{"model": label, "hold-out RMSE": value, "95% interval": "",
                           "data": "real (published)"} for label, value in metrics.PUBLISHED_RMSE.items()])
results.round({"hold-out RMSE": 4})

# %% [markdown]
# Every network must beat the mean prediction, and the tree head's outputs must obey the tree.
# Where two heads were trained, both are scored on the same held-out galaxies, so the interval
# that decides between them is the one of their *paired* difference (each bootstrap draw scores
# both on the same galaxies).

# %%
for name, (head, _) in trainings.items():
    if head == "tree":
        assert np.abs(network.tree_sums(predictions[name])).max() < 1e-4
behind = [name for name, e in best.items() if e.high >= baseline]
versus_mean = evaluate.difference(lambda p, m, y: evaluate.rmse_of(p, y), lambda p, m, y: evaluate.rmse_of(m, y),
                                  predictions[saved], scored["training mean (no image)"], valid_targets, seed=seed)
head_sentence = "Only one head was trained."
head_difference = None
if len(heads) >= 2:
    a, b = heads[0], heads[1]
    head_difference = evaluate.difference(lambda p, q, y: evaluate.rmse_of(p, y),
                                          lambda p, q, y: evaluate.rmse_of(q, y),
                                          predictions[a], predictions[b], valid_targets, seed=seed)
    head_sentence = evaluate.compare_sentence(f"the {a} head", best[a], f"the {b} head", best[b],
                                              head_difference, what="hold-out RMSE", spec=".4f",
                                              higher_is_better=False, singular=True)
print("every network beats the mean prediction" if not behind else
      f"WARNING: {', '.join(behind)} do(es) not beat the mean prediction: train longer or on more galaxies")
print(head_sentence)

# %% [markdown]
# ## When the pictures change
#
# A network that has only seen one camera can lean on that camera's fingerprints: its blur, its
# noise, its colour balance. Randomising those nuisances during training is meant to make it
# robust when the images differ from the training ones, as real cutouts differ from the mock.
# So the saved network is scored again on the same hold-out galaxies with one nuisance pushed
# *beyond* the range the randomisation used: half the brightness, noise of 0.05 (of the 0-1
# pixel scale), a PSF of 1.6 px, a red tint, a harder display stretch
# (`helpers.net.augment.STRESSES`). Each cell is the hold-out RMSE with its 95% interval; the
# last row averages the five stresses. With `ablation` (the GPU profile), a second network
# trained with rotations only is scored beside it, which measures what the randomisation buys.

# %%
# NBVAL_IGNORE_OUTPUT
scored_nets = {f"{saved}, {augment}": lambda x: inference.predict(learners[saved], x)}
if len(trainings) > len(heads):
    other = list(trainings)[-1]
    scored_nets[f"{saved}, {ablation}"] = lambda x: inference.predict(learners[other], x)
stressed = helpers.net.augment.stress_test(scored_nets, valid_images, valid_targets, seed=seed)
names = list(stressed.table.columns)
stress_difference = stressed.difference(*names) if len(names) == 2 else None
augment_sentence = (stressed.sentence(names[0], names[1],
                                      f"the network trained {helpers.net.augment.TRAINED[augment]}",
                                      f"the one trained {helpers.net.augment.TRAINED[ablation]}")
                    if stress_difference else
                    stressed.growth_sentence(names[0], f"the network trained {helpers.net.augment.TRAINED[augment]}"))
display(stressed.formatted(".4f"))
print(augment_sentence)

# %% [markdown]
# On the mock, colour and brightness carry information about a galaxy's class (the mock draws
# them per class, with scatter), so a network denied them can score worse on images drawn like
# its training set; in exchange, its error should grow less when the pictures change. The
# sentence above says how this run's network fared, and whether its interval resolves it.
# Chapters 3-7 use the randomised network: it is chosen for what may hold on other cameras and
# on real cutouts, not for the best score on the mock.

# %% [markdown]
# Which questions are hard? Errors per question (RMSE over its answers), for each network.

# %%
# NBVAL_IGNORE_OUTPUT
per_question = pd.DataFrame({name: metrics.per_question_rmse(predictions[name], valid_targets)
                             for name in trainings})
ax = per_question.plot.barh(figsize=(7, 4.5))
ax.invert_yaxis()
ax.set_xlabel("hold-out RMSE")
plt.show()

# %% [markdown]
# ## What this chapter hands on
#
# The weights of the saved network (`model.safetensors`: the last head, trained with the chosen
# augmentation) with the config that rebuilds the net (`model.json`; nothing is pickled), the
# training history of every network (`history.csv`), and the chapter's part of `metrics.json`.

# %%
# NBVAL_IGNORE_OUTPUT
network.save_model(learners[saved], run_path, {"crop": crop, "epochs": epochs, "lr": peak_lr,
                                               "data_source": source["kind"],
                                               "split": {"file": evaluate.SPLIT_FILE,
                                                         **split["set"].value_counts().to_dict()}})
artifacts.write_atomic(run_path / "history.csv", lambda tmp: history.to_csv(tmp, index=False))
print(f"saved the {saved} head (trained with {augment}) to {paths.relative(run_path / 'model.safetensors')}")

# %%
headlines = {"holdout_rmse": {name: round(e.value, 5) for name, e in best.items()},
             "mean_prediction_rmse": round(baseline, 5),
             "stressed_rmse": {name.replace(", ", "_"): round(e.value, 5) for name, e in stressed.stressed.items()},
             "margins": {"mean_prediction": round(versus_mean.value, 5)},
             "verdicts": {"mean_prediction": evaluate.verdict(versus_mean, higher_is_better=False)}}
if head_difference is not None:
    headlines["head_difference"] = round(head_difference.value, 5)
if stress_difference is not None:
    headlines["stress_difference"] = round(stress_difference.value, 5)
metrics = study.close_chapter(run_path, "train", {
    "data_source": source["kind"],
    "arch": arch, "head_saved": saved, "image_size": image_size, "pretrained": pretrained,
    "augment": augment, "ablation": ablation if len(trainings) > len(heads) else None,
    "epochs": epochs, "lr": peak_lr, "train_galaxies": int(len(train_rows)),
    "holdout_galaxies": int(len(valid_rows)),
    "unused_galaxies": int((split["set"] == evaluate.UNUSED).sum()),
    "holdout_rmse": {name: e.to_dict(5) for name, e in best.items()},
    "holdout_rmse_all": {label: e.to_dict(5) for label, e in estimates.items()},
    "head_difference": head_difference.to_dict(5) if head_difference else None,
    "stress_test": {
        "conditions": helpers.net.augment.STRESSES,
        "rmse": {name: {cond: e.to_dict(5) for cond, e in col.items()} for name, col in stressed.table.items()},
        "mean_stressed_rmse": {name: e.to_dict(5) for name, e in stressed.stressed.items()},
        "difference": stress_difference.to_dict(5) if stress_difference else None},
    "versus_mean_prediction": versus_mean.to_dict(5),
    "mean_prediction_rmse": round(baseline, 5),
    "training_seconds": {name: round(value, 1) for name, value in seconds.items()},
}, headlines=headlines, source=source, glued={
    "rmse_saved": best[saved].format(".4f"), "rmse_mean": f"{baseline:.4f}", "saved_head": saved,
    "arch": {"resnet18": "ResNet18", "resnet34": "ResNet34", "resnet50": "ResNet50"}[arch],
    "augment": augment, "n_train": int(len(train_rows)), "n_holdout": int(len(valid_rows)),
    "head_sentence": head_sentence, "augment_sentence": augment_sentence,
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, the {glue:text}`saved_head` head trained on
# {glue:text}`n_train` galaxies with {glue:text}`augment` augmentation reaches a hold-out RMSE
# of {glue:text}`rmse_saved` (95% interval over the {glue:text}`n_holdout` held-out galaxies),
# against {glue:text}`rmse_mean` for always predicting the mean. Between the heads:
# {glue:text}`head_sentence` When the pictures change: {glue:text}`augment_sentence`.
# The intervals are over galaxies, not over retraining: how far a second training on another
# processor moves each figure was measured and is the replay's tolerance
# (`notebooks/tolerances.yml`). The saved weights go on to chapter 3, which turns every galaxy
# into a 512-d code.
