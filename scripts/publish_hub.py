"""Push each shipped checkpoint to its own Hugging Face Hub model repo with a model card.

    HF_TOKEN=... .venv/bin/python scripts/publish_hub.py --namespace ORG
    .venv/bin/python scripts/publish_hub.py --namespace ORG --dry-run /tmp/cards   # write the repos, upload nothing
"""

from __future__ import annotations

from nam_core.serving.publish import main

if __name__ == "__main__":
    raise SystemExit(main())
