"""Search for the pipeline that helps a dataset, and measure it honestly.

``space`` (search-space files, validated like specs, and the deterministic list of candidates they yield) ->
``search`` (successive halving on cross-validation folds of the training data, resumable from trials.jsonl,
then one measurement on the untouched test set) -> ``output`` (best.yaml, leaderboard.json, report.html).

    from augment.search import SearchConfig, run_search
    result = run_search(SearchConfig(train="data/train", space="pipelines/spaces/search_image.yaml", out="s/"))
"""

from .search import SearchConfig, SearchError, SearchResult, run_search
from .space import Candidate, SearchSpace, load_space, parse_space

__all__ = ["Candidate", "SearchConfig", "SearchError", "SearchResult", "SearchSpace", "load_space", "parse_space",
           "run_search"]
