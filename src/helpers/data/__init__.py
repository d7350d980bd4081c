"""Stage 1, the data: the Galaxy Zoo table and its images, read and checked one way; the mock Galaxy Zoo;
one label per galaxy; how real the mock looks; survey cutouts (FITS, manifests) and where files live."""
