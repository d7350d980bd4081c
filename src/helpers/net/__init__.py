"""Stage 2, the network: its architecture and files, training with its augmentation, predictions and
codes, and the RMSE of the vote fractions."""
