"""Reading and writing datasets, images, manifests and run records."""
