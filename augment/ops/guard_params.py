"""The guard of the ops that rewrite a whole text (``back_translate``, ``llm_paraphrase``): one parameter schema,
so both take the same keys with the same checks and errors."""

from __future__ import annotations

from pydantic import Field, field_validator

from augment.ops.registry import OpParams

__all__ = ["GuardParams"]


class GuardParams(OpParams):
    """Keeps the source (so a run redraws, then drops the copy) when a rewrite is not worth keeping (see
    :func:`augment.text.backtranslate.judge`)."""

    guard: bool = Field(True, description="keep the source (so the run redraws, then drops the copy) when the "
                        "rewrite changes the length outside length_ratio, falls under min_similarity, breaks a "
                        "number/URL/@mention or other protected token, changes a question word (what -> which) "
                        "or invents a rare word (min_zipf)")
    min_similarity: float = Field(0.3, ge=0.0, le=1.0, allow_inf_nan=False,
                                  description="guard: least character similarity (difflib ratio) to the source")
    length_ratio: tuple[float, float] = Field((0.5, 2.0), description="guard: allowed output/source word-count "
                                              "ratio")
    allow_wh_change: bool = Field(False, description="guard: allow a changed question word")
    min_zipf: float = Field(1.0, ge=0.0, le=8.0, allow_inf_nan=False, description="guard: no word that the "
                            "source lacks and that is rarer in the texts' language than this wordfreq Zipf value "
                            "(a pivot word left untranslated, e.g. Esperanto 'vinjarajn'); 0 = off")

    @field_validator("length_ratio")
    @classmethod
    def _ratio_order(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= 1 <= value[1]:
            raise ValueError("length_ratio must be [low, high] with 0 <= low <= 1 <= high")
        return value
