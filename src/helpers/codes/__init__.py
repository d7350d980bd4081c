"""Stage 3, the codes: neighbours, maps (PCA, LDA, t-SNE, UMAP), clusterings, their comparison, new
galaxies placed on the maps, similarity search, and featurizing surveys on Dask."""
