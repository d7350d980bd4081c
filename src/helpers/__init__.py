"""galactic-clustering helpers: data layer, mock Galaxy Zoo, labels, runner."""
