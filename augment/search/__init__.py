"""Search for the pipeline that helps a dataset: a space of candidates, successive halving on
cross-validation folds of the training data, and one honest measurement on data the search never saw."""
