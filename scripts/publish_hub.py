"""Push each shipped checkpoint to its own Hugging Face Hub model repo with a model card.

    HF_TOKEN=... .venv/bin/python scripts/publish_hub.py --namespace ORG
    .venv/bin/python scripts/publish_hub.py --namespace ORG --dry-run /tmp/cards   # write the repos, upload nothing
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, no install needed

from nam_core.serving.publish import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
