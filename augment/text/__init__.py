"""Text augmentation building blocks: loss-free tokens, the offline WordNet index, word ops (EDA), character
noise and back-translation backends. Op definitions for specs are in ``augment.ops.text_ops``."""

from augment.text.backtranslate import BackendUnavailableError, Translator, get_translator
from augment.text.tokens import Tokens, detokenize, tokenize
from augment.text.wordnet import WordNetIndex, WordNetNotFoundError, load_index, locate_wordnet

__all__ = [
    "BackendUnavailableError",
    "Translator",
    "get_translator",
    "Tokens",
    "tokenize",
    "detokenize",
    "WordNetIndex",
    "WordNetNotFoundError",
    "load_index",
    "locate_wordnet",
]
