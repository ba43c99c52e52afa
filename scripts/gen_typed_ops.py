"""Regenerate augment/ops/typed.py from the registry (run after adding or changing an op):

    python scripts/gen_typed_ops.py          # write the file
    python scripts/gen_typed_ops.py --check  # exit 1 if the checked-in file is stale
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.ops._typed_gen import render  # noqa: E402

TARGET = Path(__file__).resolve().parents[1] / "augment" / "ops" / "typed.py"

if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        stale = not TARGET.is_file() or TARGET.read_text(encoding="utf-8") != text
        print(f"{TARGET} is {'stale: run scripts/gen_typed_ops.py' if stale else 'up to date'}")
        sys.exit(1 if stale else 0)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
